"""Chat completions and completions in OpenAI's shapes, shared by every dialect built on them.

The OpenAI dialect, the portal dialect and deployment endpoints all take
these wire models and run them through ``CompletionsServing``; each frames
the result its own way through a ``WireShape``.
"""
