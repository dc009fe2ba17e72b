// Marks the page as scripted before it is drawn (CSS folds the phone navigation only then).
document.documentElement.classList.add("js");
// Whether the page is drawn dark: the account's choice (data-theme on <html>), else the browser's.
window.tdIsDark = function () {
  const chosen = document.documentElement.dataset.theme;
  return chosen ? chosen === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
};
// A date (YYYY-MM-DD...) as the pages write it: ISO on English pages, DD.MM.YYYY on German ones.
window.tdDay = function (iso) {
  const day = String(iso).slice(0, 10);
  return document.documentElement.lang === "de" ? day.slice(8, 10) + "." + day.slice(5, 7) + "." + day.slice(0, 4) : day;
};
// The scripts' texts in the page's language (base.html's #td-strings): tdT("key", {name: value}) fills "{name}".
window.tdT = function (key, values) {
  if (!window.tdT.strings) {
    const node = document.getElementById("td-strings");
    window.tdT.strings = node ? JSON.parse(node.textContent) : {};
  }
  let text = window.tdT.strings[key] || key;
  Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
  return text;
};
