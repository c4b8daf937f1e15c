"""What mloop's two HTTP interfaces share: the JSON error shape and its status table, and
request ids.

Web-only (it imports FastAPI): the inference server (:mod:`mloop.serve`) and the REST server
(:mod:`mloop.server`) use it; the embedded default's domains never import it.
"""
