// Keep the queue's key for the page's own API calls too (the cookie the server sets is not readable here).
const form = document.getElementById("key-form");
form.addEventListener("submit", () => {
  const key = document.getElementById("queue-key").value;
  if (key) sessionStorage.setItem("infusion-coder:key", key);
});
