// Accessibility fix of the theme's markup (added by config/sphinx/offline_book.py):
// the primary sidebar (book title, search, table of contents) becomes a landmark, so
// that no content of the page lies outside landmarks.
document.addEventListener("DOMContentLoaded", () => {
  const sidebar = document.getElementById("pst-primary-sidebar");
  if (sidebar) {
    sidebar.setAttribute("role", "complementary");
    sidebar.setAttribute("aria-label", "Book navigation");
  }
});
