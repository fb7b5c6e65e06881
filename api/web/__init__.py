"""The survivor's status page: server-rendered HTML (no JavaScript, no cookies, no third-party assets).

`routes` (GET/POST /status…), `i18n` (language choice and the Babel catalogues under `locales/`), `tokens`
(the short-lived signed form token that carries an authenticated card from one form to the next), `templates/`
(Jinja2 with the i18n extension) and `static/status.css`.
"""
