"""Networks from architectures: the one builder (`builder`), which makes each family's network (`geometry` for Zoph
and DNA layers, `macro` for ENAS's), the shared network of weight sharing (`shared`), and export to code, ONNX and
TorchScript (`export`)."""
