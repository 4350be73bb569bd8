from ulid import ULID


def new_ulid() -> str:
    """OpenMeter identifies resources by ULID; they also sort by creation time."""
    return str(ULID())
