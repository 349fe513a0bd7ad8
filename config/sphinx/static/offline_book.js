// Accessibility fixes of the theme's markup (added by config/sphinx/offline_book.py).
window.addEventListener("load", () => {
  // The search button shows "Search Ctrl+K": its accessible name is what it shows.
  document.querySelectorAll(".search-button-field").forEach((b) => b.removeAttribute("aria-label"));
  // The colour-mode icons are decoration; the button's name is its aria-label.
  document.querySelectorAll(".theme-switch-button .theme-switch").forEach((icon) => {
    icon.setAttribute("aria-hidden", "true");
    icon.removeAttribute("title");
    icon.querySelectorAll("title").forEach((t) => t.remove());
  });
  // The primary sidebar (book title, search, table of contents) is a landmark.
  const sidebar = document.getElementById("pst-primary-sidebar");
  if (sidebar) {
    sidebar.setAttribute("role", "complementary");
    sidebar.setAttribute("aria-label", "Book navigation");
  }
});
