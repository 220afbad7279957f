"""Local mode, our `sam local start-api`: embedded S3 plus a real HTTP server in front of the same handler.

Kept out of the image by function/.dockerignore.
"""
