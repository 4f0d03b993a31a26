"""The parts of :class:`nzarc.reader.ArchiveReader`.

* :mod:`nzarc.read.validator`: the payload's frame sequence checked against the ordering
  rules (spec/FORMAT.md §6) and turned into typed member events;
* :mod:`nzarc.read.tail`: what must follow the index (padding, trailer);
* :mod:`nzarc.read.seekable`: random access on a seekable source: the index through the
  trailer, and selected members without decrypting the others.
"""
