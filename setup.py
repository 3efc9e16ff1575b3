"""Only here for cffi: `cffi_modules` is a setup() keyword that pyproject.toml
cannot express. Everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["pyruntime/_build.py:ffibuilder"])
