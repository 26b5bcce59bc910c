"""Networks from architectures: the one builder (`builder`) and export to code, ONNX and TorchScript (`export`)."""
