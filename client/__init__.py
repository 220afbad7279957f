"""`python -m client`: upload a batch to the bucket and call the predict API, signed with SigV4 when deployed."""
