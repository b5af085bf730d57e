// Detect: every face of a photo with the attributes the models estimate (age range, gender,
// expressions, smile, eye direction, eyes and mouth) and its passive liveness, and what could
// not be estimated and why. Nothing is stored and no collection is searched.

import { may, upload } from "../api.js";
import { add, boxedFigure, dropZone, errorNotice, fill, fmt, h, localImage, notice, pageHeading, table } from "../dom.js";

const WARNING = "Gender and expression estimates describe how a face looks in this picture, not who a person is or how they feel: "
  + "do not use them to make decisions about people. Their measured accuracy is in the README.";

const yesNo = (a) => (a ? `${a.Value ? "yes" : "no"} (${fmt.sim(a.Confidence)}%)` : "—");

function faceRow(d, i, live) {
  const top = d.Emotions ? d.Emotions.slice(0, 2).map((e) => `${e.Type.toLowerCase()} ${fmt.sim(e.Confidence)}%`).join(", ") : "—";
  const gaze = d.EyeDirection ? `yaw ${d.EyeDirection.Yaw.toFixed(0)}°, pitch ${d.EyeDirection.Pitch.toFixed(0)}°` : "—";
  const liveness = live ? `${live.Live ? "live" : "not live"} (score ${live.Score.toFixed(0)})` : "—";
  return [String(i + 1), d.AgeRange ? `${d.AgeRange.Low}–${d.AgeRange.High}` : "—",
    d.Gender ? `${d.Gender.Value} (${fmt.sim(d.Gender.Confidence)}%)` : "—", top, yesNo(d.Smile),
    yesNo(d.EyesOpen), yesNo(d.MouthOpen), gaze, liveness];
}

export async function render(root) {
  const results = h("div", { "aria-live": "polite" });
  const input = h("input", { type: "file", accept: "image/jpeg,image/png", id: "detect-photo" });
  const run = async (files) => {
    const file = files[0];
    if (!file) return;
    fill(results, notice("info", "Analysing…"));
    const form = () => { const f = new FormData(); f.append("Image", file, file.name); return f; };
    try {
      const detail = form();
      detail.append("Attributes", "ALL");
      const [r, live] = await Promise.all([
        upload("/detect-faces", detail),
        may("DetectLiveness") ? upload("/liveness", form()).catch((e) => ({ error: e })) : Promise.resolve(null),
      ]);
      const faces = r.FaceDetails;
      const liveFaces = live && !live.error ? live.Faces : [];
      const figure = boxedFigure(localImage(file, "the photo analysed"),
        faces.map((d, i) => ({ box: d.BoundingBox, label: String(i + 1) })), `${faces.length} face(s), largest first`);
      const missing = (r.FaceLedger && r.FaceLedger.UnavailableAttributes) || [];
      fill(results, figure,
        faces.length
          ? table(["Face", "Age range", "Gender", "Expression", "Smile", "Eyes open", "Mouth open", "Eye direction", "Liveness"],
            faces.map((d, i) => faceRow(d, i, liveFaces[i] && liveFaces[i].Liveness)), "What the models estimate")
          : notice("info", "No face was found."),
        missing.length ? h("section", { class: "card", "aria-label": "Not estimated" }, h("h3", {}, "Not estimated"),
          h("ul", {}, missing.map((m) => h("li", {}, h("strong", {}, m.Attribute), `: ${m.Reason}`)))) : null,
        live && live.error ? errorNotice(live.error) : null);
    } catch (e) {
      fill(results, errorNotice(e));
    }
  };
  add(root, ...pageHeading("Detect", "The faces of a photo and what the attribute models estimate about each, with its liveness. Nothing is stored."),
    notice("warn", WARNING),
    h("section", { class: "card" }, dropZone(input, "Drop a photo here, or choose one:", run)),
    results);
}
