"""``torch.backends.cudnn``: flags scripts set (``cudnn.benchmark = True``); tinygen reads none."""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version():
    return None
