// Detect: every face of a photo with the attributes the models estimate (age range, gender,
// expressions, smile, eye direction, eyes and mouth) and its passive liveness, and what could
// not be estimated and why; the objects and scenes in it (labels, the objects boxed) and its
// image properties (quality, dominant colours). Nothing is stored and no collection is searched.

import { may, upload } from "../api.js";
import { add, boxedFigure, checkbox, dropZone, errorNotice, field, fill, fmt, h, localImage, notice, pageHeading, table } from "../dom.js";

const WARNING = "Gender and expression estimates describe how a face looks in this picture, not who a person is or how they feel: "
  + "do not use them to make decisions about people. Their measured accuracy is in the README.";

const yesNo = (a) => (a ? `${a.Value ? "yes" : "no"} (${fmt.sim(a.Confidence)}%)` : "—");
const names = (list) => (list || []).map((x) => x.Name).join(", ");

function faceRow(d, i, live) {
  const top = d.Emotions ? d.Emotions.slice(0, 2).map((e) => `${e.Type.toLowerCase()} ${fmt.sim(e.Confidence)}%`).join(", ") : "—";
  const gaze = d.EyeDirection ? `yaw ${d.EyeDirection.Yaw.toFixed(0)}°, pitch ${d.EyeDirection.Pitch.toFixed(0)}°` : "—";
  const liveness = live ? `${live.Live ? "live" : "not live"} (score ${live.Score.toFixed(0)})` : "—";
  return [String(i + 1), d.AgeRange ? `${d.AgeRange.Low}–${d.AgeRange.High}` : "—",
    d.Gender ? `${d.Gender.Value} (${fmt.sim(d.Gender.Confidence)}%)` : "—", top, yesNo(d.Smile),
    yesNo(d.EyesOpen), yesNo(d.MouthOpen), gaze, liveness];
}

// The boxes of labels' instances, for boxedFigure: drawn apart from faces and named.
export function labelBoxes(labels) {
  return labels.flatMap((l) => (l.Instances || []).map((i) => ({ box: i.BoundingBox, kind: "label", label: `${l.Name} ${fmt.sim(i.Confidence)}` })));
}

// A dominant colour: its swatch (the text beside it says what it shows).
function swatch(c) {
  return h("li", { class: "swatch" },
    h("span", { class: "chip", style: { backgroundColor: c.HexCode }, "aria-hidden": "true" }),
    h("span", {}, h("code", {}, c.HexCode), ` ${c.CSSColor}`,
      h("small", {}, ` ${c.SimplifiedColor}, ${fmt.sim(c.PixelPercent)}%`)));
}

export function swatches(colors, label) {
  return colors && colors.length
    ? h("ul", { class: "swatches", "aria-label": label }, colors.map(swatch))
    : h("p", { class: "hint" }, "No colour.");
}

function labelItem(l) {
  const boxed = (l.Instances || []).filter((i) => i.DominantColors && i.DominantColors.length);
  return h("li", {},
    h("strong", {}, l.Name), ` ${fmt.sim(l.Confidence)}%`,
    l.Instances && l.Instances.length ? h("span", { class: "hint" }, ` · ${l.Instances.length} boxed`) : null,
    (l.Categories || []).map((c) => [" ", h("span", { class: "badge" }, c.Name)]),
    l.Parents && l.Parents.length ? h("small", { class: "parents" }, `Parents: ${names(l.Parents)}`) : null,
    l.Aliases && l.Aliases.length ? h("small", { class: "parents" }, `Also called: ${names(l.Aliases)}`) : null,
    boxed.length ? h("details", {}, h("summary", {}, `Colours of ${l.Name}'s box${boxed.length > 1 ? "es" : ""}`),
      boxed.map((i, n) => swatches(i.DominantColors, `${l.Name} ${n + 1}: dominant colours`))) : null);
}

function labelsSection(r) {
  return h("section", { class: "card", "aria-labelledby": "labels-title" },
    h("h2", { id: "labels-title" }, "Labels"),
    r.Labels.length
      ? h("ol", { class: "labels", "aria-label": "Labels, most confident first" }, r.Labels.map(labelItem))
      : notice("info", "No label at or above the confidence asked for."),
    h("p", { class: "hint" }, `Label model ${r.LabelModelVersion}.`));
}

function propertiesSection(p) {
  const row = (name, q = {}) => [name, fmt.sim(q.Brightness), fmt.sim(q.Sharpness), fmt.sim(q.Contrast)];
  const parts = [["Whole picture", p], ["Foreground", p.Foreground], ["Background", p.Background]].filter(([, part]) => part);
  return h("section", { class: "card", "aria-labelledby": "properties-title" },
    h("h2", { id: "properties-title" }, "Image properties"),
    table(["Part", "Brightness", "Sharpness", "Contrast"], parts.map(([name, part]) => row(name, part.Quality)), "Quality (0–100)"),
    h("div", { class: "colour-parts" }, parts.map(([name, part]) => h("div", {},
      h("h3", {}, `Dominant colours: ${name.toLowerCase()}`), swatches(part.DominantColors, `${name}: dominant colours`)))));
}

function facesSection(r, live) {
  const faces = r.FaceDetails;
  const liveFaces = live && !live.error ? live.Faces : [];
  const missing = (r.FaceLedger && r.FaceLedger.UnavailableAttributes) || [];
  return [
    faces.length
      ? table(["Face", "Age range", "Gender", "Expression", "Smile", "Eyes open", "Mouth open", "Eye direction", "Liveness"],
        faces.map((d, i) => faceRow(d, i, liveFaces[i] && liveFaces[i].Liveness)), "What the models estimate")
      : notice("info", "No face was found."),
    missing.length ? h("section", { class: "card", "aria-label": "Not estimated" }, h("h3", {}, "Not estimated"),
      h("ul", {}, missing.map((m) => h("li", {}, h("strong", {}, m.Attribute), `: ${m.Reason}`)))) : null,
    live && live.error ? errorNotice(live.error) : null,
  ];
}

export async function render(root) {
  const results = h("div", { "aria-live": "polite" });
  const input = h("input", { type: "file", accept: "image/jpeg,image/png", id: "detect-photo" });
  const choice = (label, name, checked, allowed) => {
    const el = checkbox(label, name, checked && allowed);
    el.hidden = !allowed;
    return { el, input: el.querySelector("input") };
  };
  const faces = choice("Faces, with what the models estimate", "faces", true, may("DetectFaces"));
  const labels = choice("Labels: objects and scenes", "labels", true, may("DetectLabels"));
  const props = choice("Image properties: quality and dominant colours", "properties", false, may("DetectLabels"));
  const minConfidence = h("input", { name: "MinConfidence", type: "number", min: "0", max: "100", step: "0.1" });
  const labelOptions = h("div", { class: "row" }, field("Lowest label confidence", minConfidence, "empty: 55"));
  const syncOptions = () => { labelOptions.hidden = !labels.input.checked; };
  labels.input.addEventListener("change", syncOptions);
  syncOptions();
  let chosen = null;

  const run = async () => {
    const file = chosen;
    if (!file) return fill(results, notice("error", "Choose a photo."));
    const want = { faces: faces.input.checked, labels: labels.input.checked, props: props.input.checked };
    if (!want.faces && !want.labels && !want.props) return fill(results, notice("error", "Choose faces, labels or image properties."));
    fill(results, notice("info", "Analysing…"));
    const form = () => { const f = new FormData(); f.append("Image", file, file.name); return f; };
    const detail = form();
    detail.append("Attributes", "ALL");
    const labelForm = form();
    if (want.labels) labelForm.append("Features", "GENERAL_LABELS");
    if (want.props) labelForm.append("Features", "IMAGE_PROPERTIES");
    if (want.labels && minConfidence.value) labelForm.append("MinConfidence", minConfidence.value);
    const failed = (e) => ({ error: e });
    const [r, live, lr] = await Promise.all([
      want.faces ? upload("/detect-faces", detail).catch(failed) : null,
      want.faces && may("DetectLiveness") ? upload("/liveness", form()).catch(failed) : null,
      want.labels || want.props ? upload("/detect-labels", labelForm).catch(failed) : null,
    ]);
    if (file !== chosen) return; // another photo was chosen meanwhile
    const faceList = r && !r.error ? r.FaceDetails : [];
    const labelList = lr && !lr.error ? lr.Labels : [];
    const objects = labelBoxes(labelList);
    const said = [];
    if (want.faces) said.push(`${faceList.length} face(s), largest first, numbered`);
    if (want.labels) said.push(`${objects.length} object(s) boxed with their label`);
    fill(results,
      boxedFigure(localImage(file, "the photo analysed"),
        [...faceList.map((d, i) => ({ box: d.BoundingBox, label: String(i + 1) })), ...objects], said.join("; ")),
      r ? (r.error ? errorNotice(r.error) : facesSection(r, live)) : null,
      lr && lr.error ? errorNotice(lr.error) : null,
      lr && !lr.error && want.labels ? labelsSection(lr) : null,
      lr && !lr.error && lr.ImageProperties ? propertiesSection(lr.ImageProperties) : null);
  };
  const form = h("form", { class: "card", "aria-label": "Photo and what to find" },
    h("fieldset", { class: "choices" }, h("legend", {}, "What to find"), faces.el, labels.el, props.el),
    labelOptions,
    dropZone(input, "Drop a photo here, or choose one:", (files) => { chosen = files[0] || null; if (chosen) run(); }),
    h("button", { type: "submit" }, "Analyse"));
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  add(root, ...pageHeading("Detect", "The faces of a photo and what the attribute models estimate about each, with its liveness; the objects and scenes in it, and its quality and colours. Nothing is stored."),
    faces.input.checked ? notice("warn", WARNING) : null,
    form,
    results);
}
