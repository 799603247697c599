"""Exceptions of the data-contract package."""

from __future__ import annotations


class ContractError(Exception):
    """A contract suite cannot be used: missing or unreadable file, or an invalid expectation.

    A batch that breaks a valid contract is *not* an error: it is a normal
    :class:`~data_contracts.results.ContractResult` with ``success=False``.
    """
