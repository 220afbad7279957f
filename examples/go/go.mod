module mnist-go

go 1.22

require (
	example.com/pulumi-mnist/sdk/go/mnist v0.0.0
	github.com/pulumi/pulumi/sdk/v3 v3.272.0
)

replace example.com/pulumi-mnist/sdk/go/mnist => ./sdks/mnist
