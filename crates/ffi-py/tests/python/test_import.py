"""The installed package imports and names its version."""

import ffi_py


def test_version_is_a_string():
    assert isinstance(ffi_py.__version__, str)
    assert ffi_py.__version__
