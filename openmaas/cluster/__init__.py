"""Cluster mode: the same server on a Ray Serve cluster (`openmaas serve --ray`).

The only package that imports ``ray``, and only in its submodules: importing
``openmaas.cluster`` itself (or ``openmaas.cluster.options``) does not, so
single-process mode never loads Ray. See docs/scale-out.md.
"""
