"""``nemorun ui``: a local web page of runs (`nemorun.ui.server`), answering from the records.

The page is static HTML, JavaScript and CSS shipped in ``static/`` (no build step, no external
host: the highlighter and the plots are made here). The server answers the page's questions as
JSON (`nemorun.ui.pages`) through the Python API for runs, and never changes a run.
"""
