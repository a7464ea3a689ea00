"""The live week view: an anywidget that shows the Python-made week SVG and sends hover, click,
keyboard selection and drag back as traits (its JavaScript below).

The keyboard: Tab reaches each event block (``tabindex`` in the SVG); Enter or Space selects
the focused block as a click does, Escape clears the selection. The SVG is replaced on every
redraw (a selection redraws it): the block that had the focus, found again by its key and
part, gets it back, so a keyboard user stays where they were."""

from __future__ import annotations

import anywidget
import traitlets

_WEEK_ESM = """
function render({ model, el }) {
  el.classList.add("cav-week-view");
  let drag = null, ghost = null;
  const at = (svg, e) => {
    const p = svg.createSVGPoint(); p.x = e.clientX; p.y = e.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  };
  const send = (name, value) => { model.set(name, value); model.save_changes(); };
  const keyOf = (bar) => bar.dataset.kind + ":" + bar.dataset.id;
  // Escape clears the selection from anywhere in the view (bound once: el outlives redraws)
  el.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !model.get("selected")) return;
    e.preventDefault();
    e.stopPropagation();  // consumed: not also JupyterLab's Escape
    send("selected", "");
  });
  const draw = () => {
    // the focused block, if any, to focus again in the new picture
    const had = el.contains(document.activeElement) ? document.activeElement : null;
    const again = had && had.matches("rect.bar")
      ? { key: keyOf(had), part: had.dataset.part } : null;
    el.innerHTML = model.get("svg");
    const svg = el.querySelector("svg");
    if (!svg) return;
    svg.querySelectorAll("rect.bar").forEach((bar) => {
      bar.style.cursor = "pointer";
      const key = keyOf(bar);
      bar.addEventListener("mouseenter", () => send("hovered", key));
      bar.addEventListener("mouseleave", () => send("hovered", ""));
      bar.addEventListener("click", (e) => {
        e.stopPropagation();
        send("selected", key);
      });
      bar.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" && e.key !== " ") return;
        e.preventDefault();  // Space would scroll the page
        e.stopPropagation();
        send("selected", key);
      });
    });
    if (again) {
      const same = [...svg.querySelectorAll("rect.bar")].filter((b) => keyOf(b) === again.key);
      const back = same.find((b) => b.dataset.part === again.part) || same[0];
      if (back) back.focus({ preventScroll: true });
    }
    svg.querySelectorAll("rect.day").forEach((day) => {
      day.style.cursor = "crosshair";
      day.addEventListener("mousedown", (e) => {
        e.preventDefault();
        const y = at(svg, e).y;
        drag = { day: Number(day.dataset.day), date: day.dataset.date, y0: y,
                 x: Number(day.getAttribute("x")),
                 rows: Number(svg.getAttribute("data-allday-rows")) };
        ghost = document.createElementNS("http://www.w3.org/2000/svg", "rect");
        ghost.setAttribute("class", "drag-ghost");
        ghost.setAttribute("x", drag.x + 2);
        ghost.setAttribute("width", day.getAttribute("width") - 4);
        ghost.setAttribute("y", y); ghost.setAttribute("height", 1);
        ghost.setAttribute("fill", "#3aa76d"); ghost.setAttribute("opacity", "0.4");
        ghost.setAttribute("pointer-events", "none");
        svg.appendChild(ghost);
      });
    });
    svg.addEventListener("mousemove", (e) => {
      if (!drag || !ghost) return;
      const y = at(svg, e).y;
      ghost.setAttribute("y", Math.min(y, drag.y0));
      ghost.setAttribute("height", Math.abs(y - drag.y0));
    });
    svg.addEventListener("mouseup", (e) => {
      if (!drag) return;
      const d = drag, y1 = at(svg, e).y;
      drag = null;
      if (Math.abs(y1 - d.y0) < 4) { if (ghost) ghost.remove(); ghost = null; return; }
      // the day and the band rows of the picture dragged on: it may be older than the
      // kernel's (drawn before midnight, dropped after)
      send("drag", { day: d.day, date: d.date, rows: d.rows, y0: d.y0, y1: y1, n: Date.now() });
    });
  };
  draw();
  model.on("change:svg", draw);
}
export default { render };
"""


class WeekView(anywidget.AnyWidget):
    """Injects the Python-made week SVG; sends hover and click or Enter/Space
    (``"<kind>:<id>"``; Escape sends ``""``) and drag (``{day, y0, y1}`` in SVG units) back as
    traits."""

    _esm = _WEEK_ESM
    svg = traitlets.Unicode("").tag(sync=True)
    hovered = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    drag = traitlets.Dict().tag(sync=True)


__all__ = ["WeekView"]
