// One MnistPredictor from TypeScript: the same component, defaults and errors as from Python.
import * as path from "path";
import * as mnist from "@pulumi/mnist";

const predictor = new mnist.MnistPredictor("digits", {
    architecture: "arm64",
    memorySize: 1024,
    // made by `python -m training --out examples/typescript/model`; an absolute path, wherever the plugin runs
    modelDir: path.resolve("model"),
});

export const url = predictor.url;
