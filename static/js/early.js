// Marks the page as scripted before it is drawn (CSS folds the phone navigation only then).
document.documentElement.classList.add("js");
// Whether the page is drawn dark: the account's choice (data-theme on <html>), else the browser's.
window.tdIsDark = function () {
  const chosen = document.documentElement.dataset.theme;
  return chosen ? chosen === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
};
