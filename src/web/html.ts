import { escapeHtml } from '../common/escape.ts';

/**
 * A tiny HTML template tag: every interpolated value is escaped unless it is
 * a `SafeHtml` produced by this module. Pages never concatenate raw strings.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Value = SafeHtml | string | number | boolean | null | undefined | readonly Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(v);
}

export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

export function layout(title: string, body: SafeHtml, options: { wide?: boolean; scripts?: readonly string[] } = {}): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — Advisory Alerts</title>
<link rel="stylesheet" href="/assets/app.css">
${(options.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<header class="site"><a href="/" class="brand">Advisory Alerts</a><nav aria-label="Site"><a href="/countries">Advice by country</a></nav></header>
<main class="${options.wide ? 'wide' : ''}" id="main">
${body}
</main>
<footer class="site"><p>Alerts come from official government travel advice (the U.S., the UK, Canada, Australia, Germany and Japan). Always check the source before you travel.</p></footer>
</body>
</html>`.value;
}

/**
 * The country pickers' filter boxes (destinations, and a trip's countries:
 * each picker on a page is driven on its own, finding its parts inside its own
 * element, never by a page-wide id). Served as a file from our origin (the CSP
 * allows no inline script). Without it the checkbox lists work as they are.
 */
export const PICKER_JS = `'use strict';
(function () {
  var norm = function (s) {
    return s.normalize('NFKD').replace(/[\\u0300-\\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, ' ').replace(/^the /, '').trim();
  };
  document.querySelectorAll('[data-country-picker]').forEach(function (picker) {
    var input = picker.querySelector('input[type=search]');
    var status = picker.querySelector('.picker-status');
    var list = picker.querySelector('[data-picker-list]');
    if (!input || !status || !list) return;
    var label = picker.querySelector('label[for="' + input.id + '"]');
    var hint = picker.querySelector('[id="' + input.id + '-hint"]');
    var items = Array.prototype.slice.call(list.querySelectorAll('li[data-search]'));
    // Ticked boxes in the "Chosen" list above are counted too, not filtered.
    var all = Array.prototype.slice.call(picker.querySelectorAll('li[data-search]'));
    input.hidden = false;
    status.hidden = false;
    if (label) label.hidden = false;
    if (hint) hint.hidden = false;
    var update = function () {
      var q = norm(input.value);
      var shown = 0;
      items.forEach(function (li) {
        var names = (li.getAttribute('data-search') || '').split('|');
        var box = li.querySelector('input');
        var match = !q || (box && box.checked) || names.some(function (n) { return n === q || n.indexOf(q) === 0 || n.indexOf(' ' + q) !== -1; });
        li.hidden = !match;
        if (match) shown++;
      });
      // With no filter, say what is ticked: the boxes may be far down the list.
      var chosen = all.filter(function (li) { var b = li.querySelector('input'); return b && b.checked; }).map(function (li) { return li.querySelector('.name').textContent; });
      status.textContent = q ? (shown === 0 ? 'No country matches “' + input.value + '”.' : shown + (shown === 1 ? ' country matches.' : ' countries match.')) : chosen.length ? 'Chosen: ' + chosen.join(', ') + '.' : '';
    };
    input.addEventListener('input', update);
    picker.addEventListener('change', update);
    // Enter in the filter box must not send the form half-filled.
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') e.preventDefault(); });
  });
})();
`;

/** Styles served as a file: the CSP allows no inline script or style. */
export const CSS = `
*,*::before,*::after{box-sizing:border-box}
/* The hidden attribute wins over display:block below (labels, hints): without script the filter box's label and hint stay out of sight */
[hidden]{display:none!important}
html{font-size:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;line-height:1.5;color:#1b1b1b;background:#f5f6f7}
a{color:#0b57b0}
a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid #ffbf47;outline-offset:2px}
header.site{background:#12355b;padding:.75rem 1rem}
header.site{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline}
header.site .brand{color:#fff;font-weight:700;text-decoration:none;font-size:1.15rem}
header.site nav a{color:#fff}
main{max-width:42rem;margin:0 auto;padding:1rem;background:#fff;min-height:60vh}
main.wide{max-width:72rem}
footer.site{max-width:42rem;margin:0 auto;padding:1rem;color:#4a4a4a;font-size:.875rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
label,legend{display:block;font-weight:600;margin:1rem 0 .25rem}
.hint{display:block;color:#4a4a4a;font-weight:400;font-size:.9rem;margin-bottom:.35rem}
input[type=email],input[type=tel],input[type=text],select{width:100%;font:inherit;padding:.6rem;border:2px solid #1b1b1b;border-radius:4px;background:#fff}
select[multiple]{min-height:12rem}
.field-error{color:#b3261e;font-weight:700;margin:.25rem 0}
[aria-invalid=true]{border-color:#b3261e}
.error-summary h2{margin-top:0;font-size:1.1rem}
.error-summary ul{margin:0;padding-left:1.2rem}
.error-summary a{color:#8a1c1c;font-weight:600}
.picker input[type=search]{width:100%;font:inherit;padding:.6rem;border:2px solid #1b1b1b;border-radius:4px}
.picker .group{font-weight:600;margin:.75rem 0 .25rem}
.country-list{list-style:none;margin:.5rem 0 0;padding:0 .5rem;border:1px solid #bbb;border-radius:4px}
.country-list.all{max-height:20rem;overflow-y:auto}
details.trip-countries{margin:1rem 0 0;border:1px solid #bbb;border-radius:4px;padding:0 .75rem}
details.trip-countries summary{font-weight:600;padding:.6rem 0;min-height:44px;cursor:pointer}
details.trip-countries[open]{padding-bottom:.75rem}
details.trip-countries fieldset{margin-top:0}
.country-list .choice{margin:0;padding:.45rem 0;min-height:44px;align-items:center;border-bottom:1px solid #eee}
.country-list .lvl{margin-left:auto}
.picker-status{margin:.25rem 0;color:#4a4a4a;font-size:.9rem}
fieldset{border:0;padding:0;margin:1.25rem 0 0}
legend{padding:0}
.choice{display:flex;gap:.5rem;align-items:flex-start;margin:.35rem 0;font-weight:400}
.choice input{width:1.4rem;height:1.4rem;margin:.1rem 0 0;flex:none}
button{font:inherit;font-weight:700;background:#0b6e3b;color:#fff;border:0;border-radius:4px;padding:.7rem 1.2rem;margin-top:1.25rem;cursor:pointer;min-height:44px}
button.secondary{background:#fff;color:#8a1c1c;border:2px solid #8a1c1c}
input[type=date]{display:block;font:inherit;padding:.5rem;border:2px solid #1b1b1b;border-radius:4px;background:#fff}
.trips{list-style:none;margin:.5rem 0;padding:0}
.trip{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.5rem 1rem;align-items:center;border-bottom:1px solid #eee;padding:.4rem 0}
.trip-past{color:#4a4a4a}
.trip form button{margin-top:0}
.trip .tag{color:#4a4a4a}
.notice{border-left:6px solid #0b57b0;background:#eef4fb;padding:.75rem 1rem;margin:1rem 0}
.error{border-left:6px solid #b3261e;background:#fdeceb;padding:.75rem 1rem;margin:1rem 0}
.lvl{display:inline-block;min-width:1.6rem;text-align:center;border-radius:3px;padding:0 .3rem;font-weight:700;color:#fff}
.lvl1{background:#2e7d32}.lvl2{background:#8a6d00}.lvl3{background:#b35900}.lvl4{background:#b3261e}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;border-bottom:1px solid #ddd;padding:.4rem .5rem;vertical-align:top}
/* A wide table scrolls inside its box; position:relative keeps the screen-reader-only text in its cells (absolutely positioned) inside that box too, or it widens the whole page on a phone */
.scroll{overflow-x:auto;position:relative;max-width:100%}
.scroll:focus{outline:3px solid #ffbf47}
table.admin td{overflow-wrap:anywhere}
@media (min-width:40.01rem){table.admin td:first-child,table.admin td:nth-child(2){white-space:nowrap}}
@media (max-width:40rem){table.admin thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0,0,0,0)}table.admin tr{display:block;border-bottom:2px solid #ccc;padding:.25rem 0}table.admin td{display:grid;grid-template-columns:7rem 1fr;gap:.5rem;border:0;padding:.15rem .25rem}table.admin td::before{content:attr(data-label);font-weight:600}}
.levels dt{font-weight:700}.levels dd{margin:0 0 .5rem}
svg.chart{width:100%;height:auto;max-height:12rem;display:block}
.scroll svg.chart{min-width:36rem}
/* A chart wider than a phone opens at its right end, the current hour (no script needed). */
.chart-box{direction:rtl}.chart-box svg{direction:ltr}
svg.chart text{font-size:11px;fill:#1b1b1b}
svg.chart .axis{stroke:#1b1b1b;stroke-width:1}
.chart-note{font-size:.85rem;color:#4a4a4a;margin:.25rem 0}
svg.chart .grid{stroke:#ccc;stroke-width:1}
svg.chart .line{fill:none;stroke:#1b1b1b;stroke-width:2}
svg.chart .band{opacity:.35}
svg.chart .band.lvl1{fill:#2e7d32}svg.chart .band.lvl2{fill:#8a6d00}svg.chart .band.lvl3{fill:#b35900}svg.chart .band.lvl4{fill:#b3261e}
/* The country list's level words in each government's cell are for screen readers only (its markup is kept small: see countryRow) */
.sr-only,table.countries td>span{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
.lvl .lvl-words{font-weight:600}
form.filter{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-end;margin:1rem 0}
form.filter div{flex:1 1 12rem}
form.filter button{margin-top:.5rem}
table.countries th a{color:#0b57b0}
table.countries td.l1,table.countries td.l2,table.countries td.l3,table.countries td.l4{color:#fff;font-weight:700;border:2px solid #fff}
table.countries td.l1{background:#2e7d32}table.countries td.l2{background:#8a6d00}table.countries td.l3{background:#b35900}table.countries td.l4{background:#b3261e}
.disagree{color:#8a1c1c;font-weight:700}
.none{color:#4a4a4a}
.crumbs{margin:0;font-size:.9rem}
.summary .disagree{display:block;margin-top:.25rem}
figure.history{margin:0 0 1rem}
figure.history figcaption{font-weight:700}
ul.events{list-style:none;padding:0}
li.event{border-top:1px solid #ddd;padding:.5rem 0}
li.event h3{font-size:1rem;margin:.25rem 0}
li.event .meta{color:#4a4a4a;font-size:.9rem;margin:0 0 .5rem}
/* An alert's own bullet list ("Actions to Take"): discs, not the circles of a list nested in a list, indented less than a browser's 40px so a phone keeps its width for the words */
li.event ul{margin:0 0 1rem;padding-left:1.25rem;list-style:disc}
li.event li{margin:.2rem 0}
li.event .meta time{white-space:nowrap}
form.follow{border:2px solid #12355b;border-radius:6px;padding:0 1rem 1rem;margin:1.5rem 0}
@media (max-width:30rem){main{padding:.75rem}h1{font-size:1.35rem}}
.st-sent{background:#2e7d32}.st-pending{background:#0b57b0}.st-sending{background:#6a1b9a}.st-uncertain{background:#b35900}.st-failed{background:#b3261e}.st-other{background:#777}
`;
