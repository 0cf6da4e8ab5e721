"""The wire contract: what crosses to the page, typed once (``frames``), the words the page
speaks (``vocabulary``) and the JSON Schema generated from the types (``schema``).

This package imports nothing else of the service: every layer may use it.
"""
