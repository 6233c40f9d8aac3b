//! The GraphiQL playground, from the public CDN by default or from a local
//! folder (`--graphiql-assets DIR`) for machines without internet.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::response::{Html, IntoResponse, Response};
use http::{StatusCode, header};

use super::AppState;

/// GraphiQL 3 UMD build, the React 18 builds it runs on, and the
/// graphql-ws client its subscriptions go through.
pub const ASSET_FILES: [(&str, &str); 5] = [
    ("graphiql.min.css", "text/css; charset=utf-8"),
    ("react.production.min.js", "text/javascript; charset=utf-8"),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    ("graphiql.min.js", "text/javascript; charset=utf-8"),
    ("graphql-ws.min.js", "text/javascript; charset=utf-8"),
];

const CDN: [&str; 5] = [
    "https://unpkg.com/graphiql@3.9.0/graphiql.min.css",
    "https://unpkg.com/react@18.3.1/umd/react.production.min.js",
    "https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js",
    "https://unpkg.com/graphiql@3.9.0/graphiql.min.js",
    "https://unpkg.com/graphql-ws@6.4.2/umd/graphql-ws.min.js",
];

/// Where the page loads its scripts from.
#[derive(Debug)]
pub enum Assets {
    Cdn,
    /// Read once at start-up, served from memory.
    Local(Vec<Vec<u8>>),
}

impl Assets {
    /// Loads the four files from `dir`, naming any that is missing.
    pub fn local(dir: &Path) -> Result<Assets, String> {
        let mut files = Vec::new();
        for (name, _) in ASSET_FILES {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| {
                format!(
                    "GraphiQL asset {} cannot be read ({e}); the folder needs {}",
                    path.display(),
                    ASSET_FILES.map(|(n, _)| n).join(", ")
                )
            })?;
            files.push(bytes);
        }
        Ok(Assets::Local(files))
    }

    fn urls(&self) -> [String; 5] {
        match self {
            Assets::Cdn => CDN.map(str::to_owned),
            Assets::Local(_) => ASSET_FILES.map(|(name, _)| format!("/graphiql/assets/{name}")),
        }
    }
}

/// `GET /`: the playground.
pub async fn page(State(app): State<AppState>) -> Response {
    if !app.gateway.settings().graphiql {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is disabled (@server(graphiql: false))\n",
        )
            .into_response();
    }
    Html(render(&app.assets)).into_response()
}

/// `GET /graphiql/assets/{file}`: only the four known files.
pub async fn asset(State(app): State<AppState>, UrlPath(file): UrlPath<String>) -> Response {
    let Assets::Local(files) = app.assets.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match ASSET_FILES.iter().position(|(name, _)| *name == file) {
        Some(i) => (
            [
                (header::CONTENT_TYPE, ASSET_FILES[i].1),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            files[i].clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn render(assets: &Arc<Assets>) -> String {
    let [css, react, react_dom, graphiql, graphql_ws] = assets.urls();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="icon" href="data:,">
  <title>Tributary GraphiQL</title>
  <style>html, body {{ height: 100%; margin: 0; overflow: hidden; }} #graphiql {{ height: 100vh; }}</style>
  <link rel="stylesheet" href="{css}">
  <script src="{react}"></script>
  <script src="{react_dom}"></script>
  <script src="{graphiql}"></script>
  <script src="{graphql_ws}"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL...</div>
  <script>
    const DEFAULT_QUERY = `# Tributary: one query, many upstreams, fetched at once.
query ProductPage {{
  product(id: "42") {{
    id
    details {{ name brand }}
    price {{ amount currency }}
    stock {{ inStock quantity }}
    recommendations {{ productId score }}
    shipping {{ days carrier }}
  }}
}}
`;
    // Subscriptions go over a WebSocket (graphql-transport-ws) to the same
    // endpoint; GraphiQL shows each event as it arrives.
    const ws = graphqlWs.createClient({{
      url: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql',
      lazy: true,
    }});
    function isSubscription(params, opts) {{
      const ast = opts && opts.documentAST;
      if (!ast) return /^\s*subscription\b/.test(params.query);
      const ops = ast.definitions.filter((d) => d.kind === 'OperationDefinition');
      const op = params.operationName
        ? ops.find((o) => o.name && o.name.value === params.operationName)
        : ops[0];
      return !!op && op.operation === 'subscription';
    }}
    async function fetcher(params, opts) {{
      if (isSubscription(params, opts)) {{
        return ws.iterate({{ query: params.query, variables: params.variables, operationName: params.operationName }});
      }}
      const res = await fetch('/graphql', {{
        method: 'POST',
        headers: Object.assign(
          {{ 'Content-Type': 'application/json', 'Accept': 'application/graphql-response+json, application/json', 'tributary-timeline': '1' }},
          opts && opts.headers),
        body: JSON.stringify(params),
      }});
      return res.json();
    }}
    ReactDOM.createRoot(document.getElementById('graphiql'))
      .render(React.createElement(GraphiQL, {{ fetcher: fetcher, defaultQuery: DEFAULT_QUERY }}));
  </script>
</body>
</html>
"#
    )
}
