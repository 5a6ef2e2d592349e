// The API explorer: Swagger UI from the package's own files, over this server's /openapi.json.
// A file, not an inline script, so the page's Content-Security-Policy holds.
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  tryItOutEnabled: false,
});
