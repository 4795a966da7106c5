//! The embedded files: one HTML shell rendered per page, the stylesheet, the scripts and the
//! vendored ECharts build with its licence.

use crate::ApiBases;

/// One embedded file under `/assets/`.
#[derive(Debug)]
pub struct Asset {
    /// Path below `/assets/`.
    pub path: &'static str,
    /// `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

impl Asset {
    /// Returns the `Cache-Control` of the asset: vendored files carry their version in their
    /// name and never change; our own are revalidated (cheaply, by `ETag`) on every load so a new
    /// binary is picked up at once.
    pub fn cache_control(&self) -> &'static str {
        if self.path.starts_with("vendor/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }
    }
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file served under `/assets/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/dashboard.css"),
    },
    Asset {
        path: "common.js",
        content_type: JS,
        bytes: include_bytes!("../assets/common.js"),
    },
    Asset {
        path: "overview.js",
        content_type: JS,
        bytes: include_bytes!("../assets/overview.js"),
    },
    Asset {
        path: "equipment.js",
        content_type: JS,
        bytes: include_bytes!("../assets/equipment.js"),
    },
    Asset {
        path: "records.js",
        content_type: JS,
        bytes: include_bytes!("../assets/records.js"),
    },
    Asset {
        path: "spc.js",
        content_type: JS,
        bytes: include_bytes!("../assets/spc.js"),
    },
    Asset {
        path: "shifts.js",
        content_type: JS,
        bytes: include_bytes!("../assets/shifts.js"),
    },
    Asset {
        path: "dispatch.js",
        content_type: JS,
        bytes: include_bytes!("../assets/dispatch.js"),
    },
    Asset {
        path: "audit.js",
        content_type: JS,
        bytes: include_bytes!("../assets/audit.js"),
    },
    Asset {
        path: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../assets/favicon.svg"),
    },
    Asset {
        path: "vendor/echarts-5.6.0.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/vendor/echarts.min.js"),
    },
    Asset {
        path: "vendor/ECHARTS-LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/ECHARTS-LICENSE"),
    },
    Asset {
        path: "vendor/ECHARTS-NOTICE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/ECHARTS-NOTICE"),
    },
];

/// One page of the dashboard.
#[derive(Debug)]
pub struct Page {
    /// Its route.
    pub path: &'static str,
    /// The name its script dispatches on (`<body data-page=..>`).
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
}

/// Every page, in navigation order.
pub const PAGES: &[Page] = &[
    Page {
        path: "/",
        id: "overview",
        title: "Plant overview",
    },
    Page {
        path: "/equipment",
        id: "equipment",
        title: "Equipment",
    },
    Page {
        path: "/orders",
        id: "orders",
        title: "Orders",
    },
    Page {
        path: "/dispatch",
        id: "dispatch",
        title: "Dispatch",
    },
    Page {
        path: "/quality",
        id: "quality",
        title: "Quality",
    },
    Page {
        path: "/spc",
        id: "spc",
        title: "SPC",
    },
    Page {
        path: "/maintenance",
        id: "maintenance",
        title: "Maintenance",
    },
    Page {
        path: "/inventory",
        id: "inventory",
        title: "Inventory",
    },
    Page {
        path: "/shifts",
        id: "shifts",
        title: "Shifts",
    },
    Page {
        path: "/audit",
        id: "audit",
        title: "Audit",
    },
];

const SHELL: &str = include_str!("../assets/page.html");

impl Page {
    /// Returns the page's HTML with the API bases filled in.
    pub fn render(&self, bases: &ApiBases) -> String {
        let nav: String = PAGES
            .iter()
            .filter(|page| page.id != "equipment")
            .map(|page| {
                let current = if page.id == self.id {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                format!("<a href=\"{}\"{current}>{}</a>", page.path, page.title)
            })
            .collect();
        SHELL
            .replace("{{id}}", self.id)
            .replace("{{title}}", self.title)
            .replace("{{nav}}", &nav)
            .replace("{{oee_api}}", &attribute(&bases.oee))
            .replace(
                "{{projections_api}}",
                &attribute(bases.projections.as_deref().unwrap_or("none")),
            )
    }
}

/// Escapes `text` for a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Returns a strong `ETag` of `bytes` (64-bit FNV-1a, quoted).
pub(crate) fn etag(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}
