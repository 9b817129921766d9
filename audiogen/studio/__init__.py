"""The studio: a local web page to audition, compare and keep generated tracks (``audiogen studio``).

Blocks: :mod:`~audiogen.studio.library` (SQLite + audio files on disk), :mod:`~audiogen.studio.worker` (the one
thread that runs the queue), :mod:`~audiogen.studio.form` (the page's request → the API's validation),
:mod:`~audiogen.studio.guard` (who may call the server and how much they may send), :mod:`~audiogen.studio.app`
(the HTTP routes), ``static/`` (the page itself: HTML, CSS, JS, no network).
Its web dependencies are the ``studio`` extra: ``pip install 'audiogen[studio]'``.
"""
