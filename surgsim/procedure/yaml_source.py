"""Reading a YAML file into plain Python data while remembering where every key and value was written.

PyYAML's composer builds a node graph that keeps each node's line and column; this module converts that graph to
dicts, lists and scalars itself, recording a mark for every path (``("scene", "organs", 0, "material")``), so that a
later validation error can point at the line and column it is about.

Building the objects ourselves is also what stops a "billion laughs" alias bomb: the composer shares aliased nodes,
so the graph stays small, and the conversion counts every value it produces and gives up past
:data:`MAX_VALUES` (and past :data:`MAX_ALIASES` aliases, or :data:`MAX_DEPTH` levels of nesting, which also refuses
recursive aliases) before the expansion can use much memory or time.

Duplicate keys, which PyYAML would silently resolve to the last one, are reported as problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1 << 20
MAX_ALIASES = 100
MAX_VALUES = 20_000
MAX_DEPTH = 40

Location = tuple  # a path into the data: mapping keys (str) and list indices (int)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column in the source file."""

    line: int
    column: int

    @classmethod
    def of(cls, yaml_mark) -> "Mark":
        return cls(yaml_mark.line + 1, yaml_mark.column + 1)


@dataclass(frozen=True)
class YamlProblem:
    mark: Mark | None
    message: str


class YamlRefused(Exception):
    """The file cannot be turned into data at all (malformed, too large, an alias bomb)."""

    def __init__(self, problem: YamlProblem):
        self.problem = problem
        super().__init__(problem.message)


@dataclass
class YamlDocument:
    """The data of one YAML file, with the position of each value and each mapping key."""

    data: Any
    value_marks: dict[Location, Mark] = field(default_factory=dict)
    key_marks: dict[Location, Mark] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)

    def data_location(self, loc: tuple) -> Location:
        """The longest prefix of ``loc`` that exists in the data, skipping elements that do not (a validator's union
        tags such as ``"block"`` in ``("scene", "organs", 0, "source", "block", "size_mm")``)."""
        found: list = []
        node = self.data
        for part in loc:
            if isinstance(node, dict) and isinstance(part, str) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                continue
            found.append(part)
        return tuple(found)

    def mark_of_key(self, loc: Location) -> Mark | None:
        return self.key_marks.get(loc) or self.value_marks.get(loc)

    def mark_of_value(self, loc: Location) -> Mark | None:
        while loc not in self.value_marks and loc:
            loc = loc[:-1]
        return self.value_marks.get(loc)


def read_yaml(path: Path) -> YamlDocument:
    """Parse ``path``; raise :class:`YamlRefused` when it is malformed or over the limits above.

    Problems that still leave usable data (a duplicate key, a non-text key) are collected in ``problems``.
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise YamlRefused(
            YamlProblem(None, f"the file is {size} bytes; a procedure may be at most {MAX_FILE_BYTES} bytes.")
        )
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise YamlRefused(YamlProblem(None, f"not UTF-8 text (byte {error.start} cannot be decoded).")) from None
    try:
        loader = _AliasCountingLoader(text)
    except yaml.reader.ReaderError as error:  # the reader checks every character before parsing starts
        raise YamlRefused(YamlProblem(_mark_at(text, error.position), _reader_problem(error))) from None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or str(error)
        context = f" ({error.context})" if error.context else ""
        raise YamlRefused(
            YamlProblem(Mark.of(mark) if mark else None, f"not valid YAML: {problem}{context}.")
        ) from None
    except yaml.YAMLError as error:
        raise YamlRefused(YamlProblem(None, f"not valid YAML: {error}.")) from None
    finally:
        loader.dispose()
    if root is None:
        raise YamlRefused(YamlProblem(Mark(1, 1), "the file is empty; expected a procedure (a mapping of keys)."))
    return _Converter().convert(root)


def _mark_at(text: str, index: int) -> Mark:
    line = text.count("\n", 0, index)
    return Mark(line + 1, index - (text.rfind("\n", 0, index) + 1) + 1)


def _reader_problem(error: yaml.reader.ReaderError) -> str:
    character = error.character
    shown = f"U+{character:04X}" if isinstance(character, int) else repr(character)
    return f"not valid YAML: the character {shown} is not allowed in a YAML file."


class _AliasCountingLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self.alias_count = 0
        self.depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                mark = Mark.of(self.peek_event().start_mark)
                raise YamlRefused(
                    YamlProblem(mark, f"more than {MAX_ALIASES} aliases (*name); refused as a possible alias bomb.")
                )
        # PyYAML composes nested collections by recursion: without this limit "[[[[…" 100,000 deep would end in a
        # RecursionError instead of a message.
        if self.depth > MAX_DEPTH:
            mark = Mark.of(self.peek_event().start_mark)
            raise YamlRefused(YamlProblem(mark, f"nested more than {MAX_DEPTH} levels deep."))
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Converter:
    def __init__(self):
        self.document = YamlDocument(data=None)
        self.value_count = 0
        # Only used for its scalar constructors (int, float, bool, null, timestamps) and merge-key flattening.
        self.constructor = yaml.SafeLoader("")
        self.own_entry_counts: dict[int, int] = {}

    def convert(self, root: yaml.Node) -> YamlDocument:
        self.document.data = self._value(root, (), depth=0)
        return self.document

    def _refuse(self, node: yaml.Node, message: str):
        raise YamlRefused(YamlProblem(Mark.of(node.start_mark), message))

    def _value(self, node: yaml.Node, loc: Location, depth: int) -> Any:
        self.value_count += 1
        if self.value_count > MAX_VALUES:
            self._refuse(
                node, f"more than {MAX_VALUES} values after expanding aliases; refused as a possible alias bomb."
            )
        if depth > MAX_DEPTH:
            self._refuse(node, f"nested more than {MAX_DEPTH} levels deep (or a recursive alias).")
        self.document.value_marks[loc] = Mark.of(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.constructor.construct_object(node)
            except yaml.constructor.ConstructorError as error:
                self._refuse(node, f"cannot read this value: {error.problem}.")
        if node.tag not in _COLLECTION_TAGS:
            self._refuse(node, f"unsupported tag {node.tag}; a procedure holds plain mappings, lists and values.")
        if isinstance(node, yaml.SequenceNode):
            return [self._value(item, loc + (index,), depth + 1) for index, item in enumerate(node.value)]
        return self._mapping(node, loc, depth)

    def _mapping(self, node: yaml.MappingNode, loc: Location, depth: int) -> dict:
        # flatten_mapping moves the entries of "<<" merge keys in front of the mapping's own entries; the own ones
        # override merged ones, as YAML specifies. A mapping reached again through an alias is already flattened.
        if id(node) not in self.own_entry_counts:
            self.own_entry_counts[id(node)] = sum(key.tag != _MERGE_TAG for key, _ in node.value)
            try:
                self.constructor.flatten_mapping(node)
            except yaml.constructor.ConstructorError as error:
                self._refuse(node, f"cannot merge keys here: {error.problem}.")
        first_own = len(node.value) - self.own_entry_counts[id(node)]
        result: dict = {}
        own_keys: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                self.document.problems.append(
                    YamlProblem(Mark.of(key_node.start_mark), "keys must be plain text; this one is not.")
                )
                continue
            key = key_node.value
            key_loc = loc + (key,)
            is_own = index >= first_own
            if key in own_keys or (key in result and not is_own):
                if is_own:
                    first = self.document.key_marks[key_loc]
                    message = f"duplicate key '{key}' (first at line {first.line})."
                    self.document.problems.append(YamlProblem(Mark.of(key_node.start_mark), message))
                continue
            if is_own:
                own_keys.add(key)
            self.document.key_marks[key_loc] = Mark.of(key_node.start_mark)
            result[key] = self._value(value_node, key_loc, depth + 1)
        return result
