"""PyTorch training scripts written as PyTorch users write them, run on tinygen by
tinygen_tests/test_52_torch_compat_scripts.py through tinygen_tests/torch_alias.py."""
