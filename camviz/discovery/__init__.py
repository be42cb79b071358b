"""Model discovery: from a checkpoint file or folder to a model ready for Grad-CAM.

Owns what a file is (torch zip/pickle, TorchScript, safetensors, ONNX), checkpoint sources (seed dict, timm
`train.py`, Lightning, timm/HF hub folders, transformers folders), plugins, building the model by name, its
input spec and output kind, the per-family table and target-layer resolution with token/NHWC reshapes.

Imports only `camviz.errors` from camviz. Never runs the model on data or writes files.
"""
