// Swagger UI, served from this server (no CDN), over this app's OpenAPI schema.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
