//! libxmlsec reports each failed check (the bad signature of a forged SAML response, say) by printing a line to stderr
//! through its default error callback. keyway already turns those failures into a `FederationError` with its own
//! page and audit event; the raw line would bypass the configured log format (JSON) and the request's span. This
//! routes xmlsec's reports into `tracing` at debug level instead (xmlsec's errors.h: `xmlSecErrorsSetCallback`).
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

type ErrorsCallback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

// libxmlsec1 is linked by samael's build script (pkg-config xmlsec1); its bindings leave this function out.
extern "C" {
    fn xmlSecErrorsSetCallback(callback: Option<ErrorsCallback>);
}

static ROUTED: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// Installs the callback once per process. `initialise_xmlsec` must make samael initialise xmlsec (any
/// verification does): its OpenSSL backend installs its own printing callback during that initialisation, so ours
/// has to come after it.
pub fn route_to_tracing(initialise_xmlsec: impl FnOnce()) {
    INSTALL.call_once(|| {
        initialise_xmlsec();
        // SAFETY: sets a process-wide function pointer inside libxmlsec; `report` has the callback's C signature,
        // never unwinds (it only formats and logs) and reads its string arguments only while it runs.
        unsafe { xmlSecErrorsSetCallback(Some(report)) }
    });
}

/// How many xmlsec reports went to `tracing` in this process (tests check that none went to stderr instead).
pub fn routed_count() -> u64 {
    ROUTED.load(Ordering::Relaxed)
}

/// # Safety
/// Called by libxmlsec with NUL-terminated strings or null pointers that stay valid for the call.
unsafe extern "C" fn report(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    ROUTED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: per this function's contract.
    let text = |p: *const c_char| if p.is_null() { "" } else { unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("?") };
    tracing::debug!(
        target: "xmlsec",
        func = text(func),
        object = text(error_object),
        subject = text(error_subject),
        reason,
        "{}",
        text(msg)
    );
}
