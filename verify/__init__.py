"""icl-verify: symbolic-numeric verification of in-context learning with linear self-attention.

The model is defined once (``prompt``, ``masks``, ``normalizers``,
``construction``, ``lsa``) and runs on numpy arrays and SymPy matrices alike.
"""
from .errors import PromptError
from .prompt import Prompt, load_prompt, make_prompt, tokens

__all__ = ["PromptError", "Prompt", "make_prompt", "load_prompt", "tokens"]
__version__ = "0.1.0"
