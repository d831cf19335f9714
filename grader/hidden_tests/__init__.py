"""Hidden-test helpers, written once and inlined into the hidden test cells at release.

``common`` holds what every notebook's hidden tests share (reading results,
tolerance checks, references, the guard against handing an exercise to the
helper library); a module per notebook holds what only its tests use. See
``grader/inline_hidden_helpers.py`` for how an import in a hidden block
becomes self-contained code in the gradebook, and the rules these modules
follow.
"""
