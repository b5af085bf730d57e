"""Rekognition's labels from detected objects: no model here, only data logic over
faceledger/data/labels.json (the COCO classes' Rekognition names, the taxonomy of parents,
aliases and categories, and the scene labels that follow from objects).

What it follows from Rekognition (DetectLabels, label model 3.0):
- one Label per name, each detected object an Instance of it, the label's confidence its most
  confident instance's; instances under MinConfidence are left out (Rekognition's MinConfidence
  holds for "the detected label, or an instance bounding box");
- every ancestor is a label too, with its most confident descendant's confidence and no instances,
  and a label's Parents list all its ancestors, by name (as Rekognition's responses show);
- labels sorted by confidence, ties by name; filters, then MinConfidence, then MaxLabels.

Settings.GeneralLabels, where the documentation is silent, reads as follows: inclusion filters by
label and by category add up (a label is kept when either names it; the documentation's own
example includes Cat and Dog with the whole "Animals and Pets" category and excludes Tiger, which
only makes sense as a union); exclusion filters win over inclusion; a filter names a label, not its
family (an ancestor such as Animal is a label of its own: include or exclude it by name); names are
compared without regard to case.

Labels from the image classifier (vision/classify.py, `classes`) join those of the objects only
with evidence: a classified label stands alone at CLASSIFIER_MIN_ALONE or more; one whose family
the detector saw (the detector gave the label itself or one of its ancestors: a dog for Golden
Retriever, a bird for Flamingo) needs CLASSIFIER_MIN_SUPPORTED; one of a kind the detector named
otherwise at least as surely (it saw a horse, the classifier an antelope: both mammals) is left
out. It has no instances of its own, its confidence is the classifier's, and its ancestors follow
as for any label.

LABEL_MODEL_VERSION is "3.0": it names the label list and the response shape (Aliases and
Categories beside Parents) that clients of Rekognition check for, not our detector, which the
models table names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any, Protocol

from .objects import DEFAULT_MIN_CONFIDENCE

LABEL_MODEL_VERSION = "3.0"
# On 1,500 LFW portraits (people only; ImageNet has no person class) no animal, scene, food,
# vehicle, plant or building label reached 30 (the highest: Monkey 28.5, Chimpanzee 27.3): alone, a
# classified label needs a clear margin over that; with the detector's word for its family, less.
CLASSIFIER_MIN_ALONE = 50.0
CLASSIFIER_MIN_SUPPORTED = 30.0
# Detections under the object detector's own floor do not count as seen, for or against a
# classified label, whatever floor the caller asks for.
EVIDENCE_FLOOR = DEFAULT_MIN_CONFIDENCE


class DetectedObject(Protocol):
    name: str  # a COCO-2017 class name, as the detector gives it
    confidence: float  # 0-100
    box: tuple[float, float, float, float]  # Left, Top, Width, Height as fractions of the picture


@cache
def _data() -> dict:
    with resources.files("faceledger").joinpath("data/labels.json").open(encoding="utf-8") as f:
        return json.load(f)


@cache
def ancestors(name: str) -> tuple[str, ...]:
    """Every ancestor of a label, sorted by name (the order Rekognition lists Parents in)."""
    labels = _data()["labels"]
    seen: set[str] = set()
    todo = list(labels[name]["parents"])
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(labels[parent]["parents"])
    return tuple(sorted(seen))


def coco_label(coco_class: str) -> str:
    """The Rekognition label a COCO class is boxed as."""
    try:
        return _data()["coco"][coco_class]
    except KeyError:
        raise ValueError(f"not a COCO class: {coco_class!r}") from None


def taxonomy() -> list[dict[str, Any]]:
    """Every label faceledger can give, by name: its direct parents, aliases, categories, whether it
    comes with bounding boxes, the COCO classes boxed as it, the rules that derive it, and whether
    its place in the taxonomy was read in Rekognition's documentation or inferred."""
    data = _data()
    classes: dict[str, list[str]] = {}
    for coco_class, name in data["coco"].items():
        classes.setdefault(name, []).append(coco_class)
    rules: dict[str, list[dict]] = {}
    for rule in data["derived"]:
        rules.setdefault(rule["label"], []).append(rule)
    return [
        {
            "Name": name,
            "Parents": list(entry["parents"]),
            "Aliases": list(entry["aliases"]),
            "Categories": list(entry["categories"]),
            "BoundingBoxes": entry["instances"],
            "CocoClasses": classes.get(name, []),
            "DerivedFrom": rules.get(name, []),
            "Source": entry["source"],
        }
        for name, entry in sorted(data["labels"].items())
    ]


def _instance(obj: DetectedObject) -> dict:
    left, top, width, height = (float(v) for v in obj.box)
    return {
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "Confidence": float(obj.confidence),
    }


def _rule_confidence(rule: dict, objects: Sequence[DetectedObject]) -> float | None:
    """The derived label's confidence when every clause of its rule holds, else None. A clause
    needs `count` objects of its classes (or `count` different classes when `distinct`), each at
    least min_object_confidence; its evidence is the most confident of them."""
    least = rule["min_object_confidence"]
    evidence: list[float] = []
    for clause in rule["requires"]:
        found = sorted(
            (o for o in objects if o.name in clause["classes"] and o.confidence >= least),
            key=lambda o: -o.confidence,
        )
        if clause.get("distinct"):
            best: dict[str, float] = {}
            for o in found:
                best.setdefault(o.name, float(o.confidence))
            scores = sorted(best.values(), reverse=True)
        else:
            scores = [float(o.confidence) for o in found]
        if len(scores) < clause["count"]:
            return None
        evidence += scores[: clause["count"]]
    # the weakest piece of evidence bounds the conclusion; "mean" is there for rules that want it
    if rule["confidence"] == "mean":
        return sum(evidence) / len(evidence)
    return min(evidence)


def _fold(names: Iterable[str] | None) -> set[str]:
    return {n.casefold() for n in names or ()}


def _kept(label: dict, settings: dict | None) -> bool:
    if not settings:
        return True
    name = label["Name"].casefold()
    categories = {c["Name"].casefold() for c in label["Categories"]}
    if name in _fold(settings.get("LabelExclusionFilters")):
        return False
    if categories & _fold(settings.get("LabelCategoryExclusionFilters")):
        return False
    include = _fold(settings.get("LabelInclusionFilters"))
    include_categories = _fold(settings.get("LabelCategoryInclusionFilters"))
    if not include and not include_categories:
        return True
    return name in include or bool(categories & include_categories)


def labels_from_objects(
    objects: Iterable[DetectedObject],
    *,
    classes: Iterable[tuple[str, float]] = (),
    max_labels: int | None = None,
    min_confidence: float = 55.0,
    settings: dict | None = None,
) -> list[dict]:
    """Rekognition's Labels for a picture's detected objects: their labels with instances, the
    scene labels that follow from them, the classifier's labels (`classes`: (label, confidence
    0-100) pairs) that the evidence allows, and every ancestor; `settings` is DetectLabels'
    Settings.GeneralLabels."""
    data = _data()
    objects = list(objects)
    confidence: dict[str, float] = {}
    instances: dict[str, list[dict]] = {}
    for obj in objects:
        name = coco_label(obj.name)
        if obj.confidence < min_confidence:
            continue
        confidence[name] = max(confidence.get(name, 0.0), float(obj.confidence))
        instances.setdefault(name, []).append(_instance(obj))
    for rule in data["derived"]:
        score = _rule_confidence(rule, objects)
        if score is not None:
            confidence[rule["label"]] = max(confidence.get(rule["label"], 0.0), score)
    seen: dict[str, float] = {}  # the detector's evidence, the same whatever the caller's MinConfidence
    for obj in objects:
        if obj.confidence >= EVIDENCE_FLOOR:
            seen[coco_label(obj.name)] = max(seen.get(coco_label(obj.name), 0.0), float(obj.confidence))
    for name, score in classes:
        if name not in data["labels"]:
            raise ValueError(f"not a known label: {name!r}")
        family = set(ancestors(name))
        supported = name in seen or not family.isdisjoint(seen)
        # The detector named something else of the same kind at least as surely (horses, not
        # the antelope a classifier may see in the whole picture): its word stands.
        rival = not supported and any(
            sure >= score and not family.isdisjoint(ancestors(other)) for other, sure in seen.items()
        )
        if not rival and score >= (CLASSIFIER_MIN_SUPPORTED if supported else CLASSIFIER_MIN_ALONE):
            confidence[name] = max(confidence.get(name, 0.0), float(score))
    for name, score in list(confidence.items()):
        for parent in ancestors(name):
            confidence[parent] = max(confidence.get(parent, 0.0), score)

    out = []
    for name, score in confidence.items():
        entry = data["labels"][name]
        label = {
            "Name": name,
            "Confidence": score,
            "Instances": sorted(instances.get(name, []), key=lambda i: -i["Confidence"]),
            "Parents": [{"Name": p} for p in ancestors(name)],
            "Aliases": [{"Name": a} for a in entry["aliases"]],
            "Categories": [{"Name": c} for c in entry["categories"]],
        }
        if score >= min_confidence and _kept(label, settings):
            out.append(label)
    out.sort(key=lambda label: (-label["Confidence"], label["Name"]))
    return out if max_labels is None else out[:max_labels]
