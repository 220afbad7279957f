// One MnistPredictor from Go: the same component, defaults and errors as from Python.
package main

import (
	"path/filepath"

	"example.com/pulumi-mnist/sdk/go/mnist"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		// made by `python -m training --out examples/go/model`; an absolute path, wherever the plugin runs
		modelDir, err := filepath.Abs("model")
		if err != nil {
			return err
		}
		predictor, err := mnist.NewMnistPredictor(ctx, "digits", &mnist.MnistPredictorArgs{
			Architecture: pulumi.StringRef("arm64"),
			MemorySize:   pulumi.IntRef(1024),
			ModelDir:     pulumi.StringRef(modelDir),
		})
		if err != nil {
			return err
		}
		ctx.Export("url", predictor.Url)
		return nil
	})
}
