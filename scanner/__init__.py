"""cmaudit: audit ConfigMgr 2007 site servers against Microsoft Security Advisory 954474."""

__version__ = "0.1.0"
