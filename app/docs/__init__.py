"""Ask your documents: ingestion, chunking, retrieval and grounded prompts (no Qt).

- :mod:`app.docs.extract`: reads a file (txt, md, pdf, docx, html, csv) into blocks,
  each a heading or a paragraph with its page number.
- :mod:`app.docs.chunking`: cuts blocks into passages that respect headings and
  paragraphs.
- :mod:`app.docs.indexer`: incremental indexing of a folder or of files into a
  collection, with progress, cancel and a list of the files that could not be read.
- :mod:`app.docs.retrieval`: BM25 (SQLite FTS5) and optional vector search, fused by
  reciprocal rank fusion.
- :mod:`app.docs.prompting`: the grounded prompt with numbered passages to cite.

SQL lives in :mod:`app.store.documents`.
"""
