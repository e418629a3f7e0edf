"""Domain rules: request validation, phone numbers, SSML, DTMF input rules, dial policy.

Kept import-light on purpose: import the submodules you need.
"""
