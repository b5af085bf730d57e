"""Rekognition's labels from detected objects (vision/labels.py over data/labels.json): no model,
fake objects as the detector gives them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import botocore.session
import pytest
from rekognition_shapes import problems

from faceledger.vision.labels import (
    CLASSIFIER_MIN_ALONE,
    CLASSIFIER_MIN_SUPPORTED,
    LABEL_MODEL_VERSION,
    coco_label,
    labels_from_objects,
    taxonomy,
)

# The 80 classes of COCO 2017 detection, in their usual order
COCO_CLASSES = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
]


@dataclass
class Obj:
    name: str
    confidence: float
    box: tuple[float, float, float, float] = (0.1, 0.2, 0.3, 0.4)


def by_name(labels):
    return {label["Name"]: label for label in labels}


def names(labels):
    return [label["Name"] for label in labels]


def data():
    with resources.files("faceledger").joinpath("data/labels.json").open() as f:
        return json.load(f)


def test_the_coco_list_is_the_80_classes():
    assert len(COCO_CLASSES) == 80 == len(set(COCO_CLASSES))


def test_a_dog_gives_dog_and_its_ancestors_with_its_box():
    labels = by_name(labels_from_objects([Obj("dog", 91.5, (0.1, 0.2, 0.3, 0.4))]))
    assert set(labels) == {"Dog", "Canine", "Mammal", "Animal", "Pet"}
    dog = labels["Dog"]
    assert dog["Confidence"] == 91.5
    assert dog["Instances"] == [
        {"BoundingBox": {"Width": 0.3, "Height": 0.4, "Left": 0.1, "Top": 0.2}, "Confidence": 91.5}
    ]
    assert [p["Name"] for p in dog["Parents"]] == ["Animal", "Canine", "Mammal", "Pet"]
    assert dog["Categories"] == [{"Name": "Animals and Pets"}]
    for name in ("Canine", "Mammal", "Animal", "Pet"):
        assert labels[name]["Confidence"] == 91.5 and labels[name]["Instances"] == []
    assert [p["Name"] for p in labels["Canine"]["Parents"]] == ["Animal", "Mammal"]
    assert labels["Animal"]["Parents"] == []


def test_two_dogs_are_one_label_with_two_instances():
    labels = by_name(labels_from_objects([Obj("dog", 70.0, (0.5, 0, 0.2, 0.2)), Obj("dog", 88.0)]))
    dog = labels["Dog"]
    assert dog["Confidence"] == 88.0
    assert [i["Confidence"] for i in dog["Instances"]] == [88.0, 70.0]


def test_an_ancestor_takes_its_most_confident_descendant():
    labels = by_name(labels_from_objects([Obj("dog", 80.0), Obj("cat", 95.0)]))
    assert labels["Mammal"]["Confidence"] == 95.0 and labels["Pet"]["Confidence"] == 95.0
    assert labels["Canine"]["Confidence"] == 80.0


def test_sorted_by_confidence_then_name():
    labels = labels_from_objects([Obj("dog", 80.0), Obj("car", 95.0)])
    assert names(labels) == ["Car", "Transportation", "Vehicle", "Animal", "Canine", "Dog", "Mammal", "Pet"]
    person = labels_from_objects([Obj("person", 99.0)])
    assert person[0]["Aliases"] == [{"Name": "Human"}]


def test_min_confidence_drops_labels_and_instances():
    labels = by_name(labels_from_objects([Obj("dog", 90.0), Obj("dog", 50.0), Obj("cat", 54.9)]))
    assert len(labels["Dog"]["Instances"]) == 1 and "Cat" not in labels
    assert labels_from_objects([Obj("dog", 90.0)], min_confidence=95.0) == []
    low = by_name(labels_from_objects([Obj("cat", 40.0)], min_confidence=30.0))
    assert low["Cat"]["Confidence"] == 40.0


def test_max_labels_keeps_the_most_confident():
    objects = [Obj("dog", 80.0), Obj("car", 95.0)]
    assert names(labels_from_objects(objects, max_labels=2)) == ["Car", "Transportation"]
    assert labels_from_objects(objects, max_labels=0) == []
    # MaxLabels counts after the filters
    only_animals = {"LabelCategoryInclusionFilters": ["Animals and Pets"]}
    assert names(labels_from_objects(objects, max_labels=1, settings=only_animals)) == ["Animal"]


def test_label_inclusion_keeps_just_the_named_labels():
    objects = [Obj("dog", 80.0), Obj("car", 95.0)]
    labels = labels_from_objects(objects, settings={"LabelInclusionFilters": ["Dog", "Vehicle"]})
    assert names(labels) == ["Vehicle", "Dog"]
    # the kept label still names its ancestors
    assert [p["Name"] for p in labels[1]["Parents"]] == ["Animal", "Canine", "Mammal", "Pet"]


def test_label_exclusion_removes_the_named_labels_only():
    labels = labels_from_objects([Obj("dog", 80.0)], settings={"LabelExclusionFilters": ["Pet", "Canine"]})
    assert names(labels) == ["Animal", "Dog", "Mammal"]


def test_category_filters():
    objects = [Obj("dog", 80.0), Obj("car", 95.0), Obj("tv", 70.0)]
    animals = labels_from_objects(objects, settings={"LabelCategoryInclusionFilters": ["Animals and Pets"]})
    assert set(names(animals)) == {"Animal", "Canine", "Dog", "Mammal", "Pet"}
    no_animals = labels_from_objects(
        objects, settings={"LabelCategoryExclusionFilters": ["Animals and Pets"]}
    )
    assert not {"Animal", "Dog"} & set(names(no_animals)) and "Car" in names(no_animals)


def test_inclusions_add_up_and_exclusions_win():
    # the documentation's own example: Cat and Dog, the animals, but no Tiger
    settings = {
        "LabelInclusionFilters": ["Car"],
        "LabelCategoryInclusionFilters": ["Animals and Pets"],
        "LabelExclusionFilters": ["Pet"],
        "LabelCategoryExclusionFilters": ["Technology and Computing"],
    }
    objects = [Obj("dog", 80.0), Obj("car", 95.0), Obj("tv", 70.0), Obj("chair", 90.0)]
    assert names(labels_from_objects(objects, settings=settings)) == [
        "Car",
        "Animal",
        "Canine",
        "Dog",
        "Mammal",
    ]
    both = {"LabelInclusionFilters": ["Dog"], "LabelExclusionFilters": ["Dog"]}
    assert labels_from_objects(objects, settings=both) == []


def test_filters_ignore_case_and_empty_settings_filter_nothing():
    objects = [Obj("dog", 80.0)]
    assert names(labels_from_objects(objects, settings={"LabelInclusionFilters": ["dog"]})) == ["Dog"]
    assert names(
        labels_from_objects(objects, settings={"LabelCategoryInclusionFilters": ["animals AND pets"]})
    )
    everything = labels_from_objects(objects)
    assert labels_from_objects(objects, settings={}) == everything
    assert labels_from_objects(objects, settings={"LabelInclusionFilters": []}) == everything


def test_people_and_crowd_follow_from_persons():
    one = by_name(labels_from_objects([Obj("person", 99.0)]))
    assert "People" not in one
    two = by_name(labels_from_objects([Obj("person", 99.0), Obj("person", 70.0), Obj("person", 58.0)]))
    assert two["People"]["Confidence"] == 70.0  # the weaker of the two strongest
    assert two["People"]["Instances"] == [] and [p["Name"] for p in two["People"]["Parents"]] == ["Person"]
    assert "Crowd" not in two
    many = by_name(labels_from_objects([Obj("person", 60.0 + i) for i in range(10)]))
    assert many["Crowd"]["Confidence"] == 60.0
    # evidence under the rule's own threshold does not count
    faint = by_name(labels_from_objects([Obj("person", 90.0), Obj("person", 59.0)], min_confidence=10))
    assert "People" not in faint


def test_scene_rules_need_all_their_evidence():
    computer = [Obj("keyboard", 90.0), Obj("mouse", 80.0), Obj("tv", 85.0)]
    assert by_name(labels_from_objects(computer))["Computer"]["Confidence"] == 80.0
    assert "Computer" not in by_name(labels_from_objects(computer[:2]))
    kitchen = by_name(labels_from_objects([Obj("oven", 90.0), Obj("sink", 75.0)]))
    assert kitchen["Kitchen"]["Confidence"] == 75.0
    assert [p["Name"] for p in kitchen["Kitchen"]["Parents"]] == ["Indoors", "Room"]
    # two sinks are one kind of fixture: not a kitchen
    assert "Kitchen" not in by_name(labels_from_objects([Obj("sink", 90.0), Obj("sink", 90.0)]))
    road = by_name(labels_from_objects([Obj("traffic light", 70.0), Obj("car", 90.0)]))
    assert road["Road"]["Confidence"] == 70.0
    assert "Road" not in by_name(labels_from_objects([Obj("car", 90.0), Obj("bus", 90.0)]))
    assert "Bedroom" not in by_name(labels_from_objects([Obj("bed", 99.0)]))


def test_every_coco_class_maps_to_a_boxed_label():
    boxed = {entry["Name"] for entry in taxonomy() if entry["BoundingBoxes"]}
    assert {coco_label(c) for c in COCO_CLASSES} == boxed
    assert set(data()["coco"]) == set(COCO_CLASSES)
    for name in COCO_CLASSES:
        labels = labels_from_objects([Obj(name, 90.0)])
        assert labels[0]["Instances"] or any(label["Instances"] for label in labels)


def test_an_unknown_class_is_an_error():
    with pytest.raises(ValueError, match="tvmonitor"):
        labels_from_objects([Obj("tvmonitor", 90.0)])


def test_the_taxonomy_is_a_dag_of_known_labels():
    entries = {entry["Name"]: entry for entry in taxonomy()}
    for name, entry in entries.items():
        assert set(entry["Parents"]) <= set(entries), name
        assert entry["Source"] in ("docs", "inferred")
        assert entry["Categories"], name
        assert name not in entry["Aliases"]
    # no cycles: a depth-first walk never meets a label on its own path
    done: set[str] = set()

    def walk(name, path):
        assert name not in path, f"cycle: {' -> '.join(path + (name,))}"
        if name not in done:
            for parent in entries[name]["Parents"]:
                walk(parent, path + (name,))
            done.add(name)

    for name in entries:
        walk(name, ())
    for rule in data()["derived"]:
        assert rule["label"] in entries and not entries[rule["label"]]["BoundingBoxes"]
        assert entries[rule["label"]]["DerivedFrom"]


def test_the_names_rekognition_documents():
    entries = {entry["Name"]: entry for entry in taxonomy()}
    assert coco_label("cell phone") == "Mobile Phone" and entries["Mobile Phone"]["Aliases"] == ["Cell Phone"]
    assert coco_label("tv") == "TV" and entries["TV"]["Aliases"] == ["Television"]
    assert entries["Car"]["Categories"] == ["Vehicles and Automotive"]
    assert entries["Car"]["Aliases"] == ["Automobile"]
    assert entries["Person"]["Aliases"] == ["Human"]


def test_labels_match_botocores_label_shape():
    model = botocore.session.get_session().get_service_model("rekognition")
    shape = model.shape_for("Label")
    objects = [Obj(name, 90.0 - i * 0.1) for i, name in enumerate(COCO_CLASSES)] + [Obj("person", 80.0)]
    labels = labels_from_objects(objects)
    assert labels
    for label in labels:
        assert not problems(shape, label), label
    response = {"Labels": labels, "LabelModelVersion": LABEL_MODEL_VERSION}
    assert not problems(model.operation_model("DetectLabels").output_shape, response)


# -- labels from the image classifier (`classes`) ---------------------------------------------------


def test_a_breed_the_detector_backs_joins_with_its_ancestors_and_no_box():
    labels = by_name(labels_from_objects([Obj("dog", 92.0)], classes=[("Golden Retriever", 60.0)]))
    retriever = labels["Golden Retriever"]
    assert retriever["Confidence"] == 60.0 and retriever["Instances"] == []
    assert [p["Name"] for p in retriever["Parents"]] == ["Animal", "Canine", "Dog", "Mammal", "Pet"]
    assert labels["Dog"]["Confidence"] == 92.0 and len(labels["Dog"]["Instances"]) == 1


def test_a_classified_label_needs_evidence():
    backed = CLASSIFIER_MIN_SUPPORTED + 1
    # the detector saw a dog: a breed needs only the lower floor
    assert "Beagle" in by_name(
        labels_from_objects([Obj("dog", 90.0)], classes=[("Beagle", backed)], min_confidence=0)
    )
    # nothing seen: the same breed is left out, and so are its ancestors
    alone = labels_from_objects([], classes=[("Beagle", backed)], min_confidence=0)
    assert alone == []
    # a cat does not back a dog's breed
    cat = by_name(labels_from_objects([Obj("cat", 90.0)], classes=[("Beagle", backed)], min_confidence=0))
    assert "Beagle" not in cat and "Dog" not in cat
    # confident enough, a label stands alone: scenes have no detector to back them
    beach = by_name(labels_from_objects([], classes=[("Beach", CLASSIFIER_MIN_ALONE)], min_confidence=0))
    assert beach["Beach"]["Confidence"] == CLASSIFIER_MIN_ALONE and beach["Beach"]["Instances"] == []
    assert {"Shoreline", "Coast", "Sea", "Water", "Nature", "Outdoors"} <= set(beach)
    below = labels_from_objects([], classes=[("Beach", CLASSIFIER_MIN_ALONE - 0.1)], min_confidence=0)
    assert below == []


def test_a_label_both_models_give_keeps_its_boxes_and_the_higher_confidence():
    labels = by_name(labels_from_objects([Obj("cat", 70.0)], classes=[("Cat", 95.0), ("Persian Cat", 40.0)]))
    assert labels["Cat"]["Confidence"] == 95.0 and len(labels["Cat"]["Instances"]) == 1
    assert labels["Mammal"]["Confidence"] == 95.0
    assert "Persian Cat" not in labels  # 40 passes the floor, not the default MinConfidence of 55
    low = by_name(labels_from_objects([Obj("cat", 70.0)], classes=[("Persian Cat", 40.0)], min_confidence=30))
    assert low["Persian Cat"]["Confidence"] == 40.0


def test_classified_labels_obey_filters_and_max_labels():
    classes = [("Golden Retriever", 80.0), ("Beach", 75.0)]
    kept = labels_from_objects(
        [Obj("dog", 90.0)], classes=classes, settings={"LabelExclusionFilters": ["beach"]}
    )
    assert "Beach" not in names(kept) and "Golden Retriever" in names(kept)
    only = labels_from_objects(
        [Obj("dog", 90.0)],
        classes=classes,
        settings={"LabelCategoryInclusionFilters": ["Nature and Outdoors"]},
    )
    assert "Beach" in names(only) and "Dog" not in names(only)
    assert len(labels_from_objects([Obj("dog", 90.0)], classes=classes, max_labels=3)) == 3


def test_an_unknown_classified_label_is_an_error():
    with pytest.raises(ValueError, match="Labrador Puppy"):
        labels_from_objects([], classes=[("Labrador Puppy", 90.0)])


def test_every_imagenet_label_is_in_the_taxonomy():
    import csv

    with resources.files("faceledger").joinpath("data/imagenet_labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["index"]) for r in rows] == list(range(1000))
    known = {entry["Name"] for entry in taxonomy()}
    mapped = {r["label"] for r in rows if r["label"]}
    assert mapped <= known, mapped - known
    by_index = {int(r["index"]): r for r in rows}
    assert by_index[207]["label"] == "Golden Retriever" and by_index[207]["imagenet_name"].startswith(
        "golden retriever"
    )
    assert by_index[978]["label"] == "Beach" and by_index[975]["label"] == "Lake"
    assert by_index[21]["label"] == "Bird"  # the kite that flies on its own wings, not the toy


def test_the_detector_word_stands_against_a_classified_label_of_the_same_kind():
    horses = by_name(labels_from_objects([Obj("horse", 99.0)], classes=[("Antelope", 72.0)]))
    assert "Horse" in horses and "Antelope" not in horses
    # A weak detection does not silence a surer classifier: both are reported.
    cat = by_name(labels_from_objects([Obj("dog", 60.0)], classes=[("Cat", 91.0)]))
    assert {"Dog", "Cat"} <= set(cat)
    # Different kinds do not compete: a cup and an espresso.
    coffee = by_name(labels_from_objects([Obj("cup", 92.0)], classes=[("Espresso", 95.0)]))
    assert {"Cup", "Espresso"} <= set(coffee)


def test_the_evidence_for_a_classified_label_does_not_move_with_min_confidence():
    objects = [Obj("dog", 97.0), Obj("cat", 10.0)]  # a cat under the detector's own floor
    for floor in (0.0, 55.0):
        labels = by_name(labels_from_objects(objects, classes=[("Cat", 93.9)], min_confidence=floor))
        assert "Dog" in labels, floor
        # the classifier's Cat is overruled either way; at floor 0 the detector's own weak cat shows
        assert labels.get("Cat", {"Confidence": 10.0})["Confidence"] == 10.0, floor
