"""DetectLabels, and StartLabelDetection / GetLabelDetection on stored video: objects and the
labels that follow from them, and image properties (quality, dominant colours) without a model."""

from __future__ import annotations

from ..errors import InvalidParameterException
from ..vision.model_store import ModelsUnavailable
from . import records, validate
from .base import ImageInput, models_needed
from .video import VideoOperations, _rate

FEATURES = ("GENERAL_LABELS", "IMAGE_PROPERTIES")
FILTERS = (
    "LabelInclusionFilters",
    "LabelExclusionFilters",
    "LabelCategoryInclusionFilters",
    "LabelCategoryExclusionFilters",
)
DEFAULT_MIN_CONFIDENCE = 55.0  # DetectLabels' MinConfidence when none is given
MAX_DOMINANT_COLORS = 20  # botocore's range: 0 to 20
DEFAULT_DOMINANT_COLORS = 10


def _features(value, allowed: tuple[str, ...]) -> list[str]:
    if value is None or value == []:
        return ["GENERAL_LABELS"]
    if not isinstance(value, list) or any(f not in allowed for f in value):
        raise InvalidParameterException(f"Features must be a list of {', '.join(allowed)}; got {value!r}.")
    return list(dict.fromkeys(value))


def _general_settings(settings) -> dict | None:
    """Settings.GeneralLabels checked: each filter a list of names."""
    if settings is None:
        return None
    if not isinstance(settings, dict) or set(settings) - set(FILTERS):
        raise InvalidParameterException(f"Settings.GeneralLabels takes {', '.join(FILTERS)}.")
    for name, values in settings.items():
        if (
            not isinstance(values, list)
            or len(values) > 100
            or not all(isinstance(v, str) and 0 < len(v) <= 255 for v in values)
        ):
            raise InvalidParameterException(
                f"Settings.GeneralLabels.{name} must be a list of at most 100 label or category names."
            )
    return settings


def _settings(value, features: list[str], allowed: tuple[str, ...]) -> tuple[dict | None, int]:
    """(GeneralLabels settings, MaxDominantColors) from Settings."""
    if value is None:
        return None, DEFAULT_DOMINANT_COLORS
    members = {"GeneralLabels", "ImageProperties"} if "IMAGE_PROPERTIES" in allowed else {"GeneralLabels"}
    if not isinstance(value, dict) or set(value) - members:
        raise InvalidParameterException(f"Settings takes {' and '.join(sorted(members))}.")
    general = _general_settings(value.get("GeneralLabels"))
    if general and "GENERAL_LABELS" not in features:
        raise InvalidParameterException("Settings.GeneralLabels needs the GENERAL_LABELS feature.")
    props = value.get("ImageProperties")
    colors = DEFAULT_DOMINANT_COLORS
    if props is not None:
        if "IMAGE_PROPERTIES" not in features:
            raise InvalidParameterException("Settings.ImageProperties needs the IMAGE_PROPERTIES feature.")
        if not isinstance(props, dict) or set(props) - {"MaxDominantColors"}:
            raise InvalidParameterException("Settings.ImageProperties takes MaxDominantColors.")
        colors = validate.integer(
            props.get("MaxDominantColors"), "MaxDominantColors", 0, MAX_DOMINANT_COLORS, colors
        )
    return general, colors


def _foreground(rgb, found: list | None) -> list:
    """The boxes of the objects surely there (at DetectLabels' default floor, whatever the
    caller's MinConfidence and filters), so that the foreground does not change with what else
    was asked; without the object models, none (image_properties then estimates it)."""
    if found is None:
        from ..vision.objects import detect_objects

        try:
            found = detect_objects(rgb, min_confidence=DEFAULT_MIN_CONFIDENCE)
        except ModelsUnavailable:
            return []
    return [o.box for o in found if o.confidence >= DEFAULT_MIN_CONFIDENCE]


def _instance_colors(rgb, labels: list[dict], most: int) -> None:
    """Each instance's dominant colours, from the pixels of its box."""
    from ..vision.image_properties import box_dominant_colors

    for label in labels:
        for inst in label.get("Instances", []):
            inst["DominantColors"] = box_dominant_colors(rgb, inst["BoundingBox"], most)


class LabelOperations(VideoOperations):
    """Labels of pictures and of stored video."""

    def detect_labels(
        self,
        Image: ImageInput,
        MaxLabels=None,
        MinConfidence=None,
        Features=None,
        Settings=None,
    ) -> records.Plain:
        """Labels, largest confidence first, and (with IMAGE_PROPERTIES) the picture's quality and
        colours; on the ledger with the picture's digest and the labels' names."""
        from ..vision.labels import LABEL_MODEL_VERSION

        features = _features(Features, FEATURES)
        general, most_colors = _settings(Settings, features, FEATURES)
        most = validate.integer(MaxLabels, "MaxLabels", 0, 2**31 - 1, 1000)
        least = validate.percentage(MinConfidence, "MinConfidence", DEFAULT_MIN_CONFIDENCE)
        img = self._load_image(Image)
        labels: list[dict] = []
        found = None
        if "GENERAL_LABELS" in features:
            from ..vision.label_picture import label_picture

            with models_needed("Labels cannot be detected"):
                found, labels = label_picture(
                    img.rgb, min_confidence=least, settings=general, max_labels=most
                )
        out = records.Plain(Labels=labels, LabelModelVersion=LABEL_MODEL_VERSION)
        if "IMAGE_PROPERTIES" in features:
            from ..vision.image_properties import image_properties

            out["ImageProperties"] = image_properties(
                img.rgb, foreground_boxes=_foreground(img.rgb, found), max_dominant_colors=most_colors
            )
            _instance_colors(img.rgb, labels, most_colors)
        with self.catalog.write() as conn:
            self.ledger.append(
                conn,
                "DetectLabels",
                probe_sha256=img.sha256,
                detail={"Features": features, "Labels": [label["Name"] for label in labels][:100]},
            )
        return out

    # -- stored video -------------------------------------------------------------------------

    def start_label_detection(
        self,
        Video,
        ClientRequestToken=None,
        MinConfidence=None,
        NotificationChannel=None,
        JobTag=None,
        Features=None,
        Settings=None,
        *,
        sample_rate: float | None = None,
        run_by: str | None = None,
    ) -> records.Plain:
        """A job labelling every sampled frame (see video_jobs.py); `run_by` as for face detection."""
        request, token = self._common(Video, ClientRequestToken, NotificationChannel, JobTag, None)
        features = _features(Features, ("GENERAL_LABELS",))
        general, _ = _settings(Settings, features, ("GENERAL_LABELS",))
        request["MinConfidence"] = validate.percentage(MinConfidence, "MinConfidence", 50.0)
        if general:
            request["Settings"] = {"GeneralLabels": general}
        request["SampleRate"] = _rate(sample_rate)
        return self._start_job("LabelDetection", request, token, run_by)

    def get_label_detection(
        self, JobId, MaxResults=None, NextToken=None, SortBy=None, AggregateBy=None
    ) -> records.Plain:
        """Labels by timestamp (each with its instances' boxes) or by segment (runs of samples a
        label is seen in, no instances), sorted by TIMESTAMP (default) or NAME."""
        from ..video.labels import segments

        if SortBy not in (None, "NAME", "TIMESTAMP"):
            raise InvalidParameterException("SortBy must be NAME or TIMESTAMP.")
        if AggregateBy not in (None, "TIMESTAMPS", "SEGMENTS"):
            raise InvalidParameterException("AggregateBy must be TIMESTAMPS or SEGMENTS.")
        sort, aggregate = SortBy or "TIMESTAMP", AggregateBy or "TIMESTAMPS"

        def arrange(items: list, request: dict, result: dict) -> list:
            if aggregate == "SEGMENTS":
                items = segments(items, request["SampleRate"], result["VideoMetadata"].get("DurationMillis"))
            if sort == "NAME":
                return sorted(items, key=lambda i: (i["Label"]["Name"], i["Timestamp"]))
            return sorted(
                items, key=lambda i: (i["Timestamp"], -i["Label"]["Confidence"], i["Label"]["Name"])
            )

        out = self._get(
            "LabelDetection",
            JobId,
            MaxResults,
            NextToken,
            "Labels",
            arrange=arrange,
            view=f"SortBy={sort} AggregateBy={aggregate}",
        )
        out["GetRequestMetadata"] = {"SortBy": sort, "AggregateBy": aggregate}
        return out
