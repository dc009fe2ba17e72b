// Marks the page as scripted before it is drawn (CSS folds the phone navigation only then).
document.documentElement.classList.add("js");
