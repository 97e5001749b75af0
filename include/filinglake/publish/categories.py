"""Readable categories: a row's ``form_type`` → a list of (code, name_zh, name_en) structs.

Each source maps its own ``form_type`` (:meth:`filinglake.sources.base.Source.categories`): CNINFO each
``announcementType`` code, HKEX the tier-one and tier-two names of ``LONG_TEXT``. A code without a
known name keeps its code with null names (an HKEX name without a known code keeps its name with a null
code): nothing is dropped. Rows whose source has no category scheme (SEC) or no ``form_type`` get null.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from filinglake.schema import CATEGORIES_TYPE


def categories_for(source: str | None, form_type: str | None) -> list[dict] | None:
    """The categories of one row (None: its source has no scheme, or the row has no form_type)."""
    from filinglake.sources import get_source

    if not source or not form_type:
        return None
    try:
        found = get_source(source).categories(form_type)
    except ValueError:  # a source no longer registered
        return None
    if found is None:
        return None
    return [{"code": code, "name_zh": zh, "name_en": en} for code, zh, en in found]


def has_categories(source: str) -> bool:
    """Whether ``source`` maps form types to categories at all (else its rows' categories are all null;
    an unknown source: assumed to)."""
    from filinglake.sources import source_class
    from filinglake.sources.base import Source

    try:
        return source_class(source).categories is not Source.categories
    except ValueError:
        return True


def with_categories(table: pa.Table, column: str = "categories") -> pa.Table:
    """``table`` (with ``source`` and ``form_type``) with ``column`` set from each row's form_type.

    Each distinct (source, form_type) is mapped once.
    """
    sources = pc.fill_null(table["source"].cast(pa.string()), "")
    forms = table["form_type"].cast(pa.string())
    keys = pc.binary_join_element_wise(sources, pc.fill_null(forms, ""), pc.if_else(pc.is_null(forms), "\x00", "\x1f"))
    distinct = pc.unique(keys)
    values = []
    for key in distinct.to_pylist():
        source, separator, form_type = key.partition("\x1f")
        values.append(categories_for(source, form_type) if separator else None)
    mapped = pc.take(pa.array(values, CATEGORIES_TYPE), pc.index_in(keys, value_set=distinct))
    field = pa.field(column, CATEGORIES_TYPE)
    if column in table.column_names:
        return table.set_column(table.column_names.index(column), field, mapped)
    return table.append_column(field, mapped)
