//! When to try a request again, and how long to wait first.
//!
//! Mirrors and indexes fail transiently all the time (a dropped connection, a 503 from a
//! load balancer, a rate limit); a lock or build of a few hundred files must ride that
//! out. Failures that another attempt cannot fix (404, a bad certificate, a hash
//! mismatch) fail at once, so the user hears about them without waiting.
//!
//! [`with_retries`] is the one loop that does the trying: downloads, the registry's
//! requests, its `/v2/` probe and its token service all go through it.

use std::error::Error as _;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How many times to try, and how long to wait between tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first one included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; it doubles for each further one.
    pub base_delay: Duration,
    /// The longest wait rtlock accepts, whether from backoff or from a server's
    /// `Retry-After`: a server asking for an hour should fail the run, not stall it.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, waiting 250 ms, 500 ms, then 1 s (plus jitter): under two seconds in
    /// all for a blip, and a permanently broken URL is reported quickly.
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed attempt number `attempt` (1-based), or `None` when no
    /// attempt is left.
    ///
    /// A `Retry-After` from the server wins over the backoff (capped at `max_delay`);
    /// otherwise the delay doubles from `base_delay`, with up to 25 % jitter so that
    /// parallel downloads that failed together do not all come back at once.
    pub(crate) fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.attempts.max(1) {
            return None;
        }
        if let Some(wait) = retry_after {
            return Some(wait.min(self.max_delay));
        }
        let exp = attempt.saturating_sub(1).min(16);
        let backoff = self.base_delay.saturating_mul(1 << exp);
        let jitter = backoff.mul_f64(jitter_fraction() * 0.25);
        Some((backoff + jitter).min(self.max_delay))
    }
}

/// How one attempt failed, and whether another may succeed.
#[derive(Debug)]
pub enum Failure<E> {
    /// Worth another attempt, after `retry_after` when the server asked for a wait.
    Transient {
        error: E,
        retry_after: Option<Duration>,
    },
    /// Another attempt would fail the same way.
    Permanent(E),
}

impl<E> Failure<E> {
    /// A transient failure without a `Retry-After`.
    pub fn transient(error: E) -> Self {
        Failure::Transient {
            error,
            retry_after: None,
        }
    }
}

/// What [`with_retries`] ended with.
#[derive(Debug)]
pub struct Retried<T, E> {
    /// The last attempt's value, or its error.
    pub result: Result<T, E>,
    /// How many attempts were made, the last one included.
    pub attempts: u32,
}

/// Runs `attempt` (given its number, from 1) until it succeeds, fails for good, or
/// `policy` has no attempt left; between attempts it waits
/// [`RetryPolicy::delay_after`], which honours (and caps) a `Retry-After`.
///
/// Before each wait, `before_retry` hears the error, the wait and the number of the
/// attempt to come, to say so in the log. A transient failure of the last attempt is
/// returned like a permanent one: the caller decides what giving up means (an error,
/// or the last response for the caller to judge).
pub async fn with_retries<T, E, Fut>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut(u32) -> Fut,
    mut before_retry: impl FnMut(&E, Duration, u32),
) -> Retried<T, E>
where
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let mut number = 1;
    loop {
        let (error, retry_after) = match attempt(number).await {
            Ok(value) => {
                return Retried {
                    result: Ok(value),
                    attempts: number,
                };
            }
            Err(Failure::Transient { error, retry_after }) => (error, retry_after),
            Err(Failure::Permanent(error)) => {
                return Retried {
                    result: Err(error),
                    attempts: number,
                };
            }
        };
        let Some(delay) = policy.delay_after(number, retry_after) else {
            return Retried {
                result: Err(error),
                attempts: number,
            };
        };
        before_retry(&error, delay, number + 1);
        tokio::time::sleep(delay).await;
        number += 1;
    }
}

/// A number in [0, 1) that differs between calls. Good enough for jitter, and needs no
/// random-number crate: std seeds every `RandomState` afresh.
fn jitter_fraction() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Statuses that mean "try again later" rather than "no".
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// A `Retry-After` given in seconds. The HTTP-date form is rare from mirrors and would
/// need the server's clock to agree with ours; it falls back to the normal backoff.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// What kind of failure a transport error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A connection, timeout or mid-transfer failure: worth another attempt.
    Transient,
    /// The peer's certificate was rejected: another attempt gives the same answer.
    Certificate,
    /// Anything else (a malformed URL, too many redirects).
    Permanent,
}

/// Sorts a reqwest error into [`ErrorClass`].
pub fn classify(error: &reqwest::Error) -> ErrorClass {
    if is_tls_certificate_error(error) {
        return ErrorClass::Certificate;
    }
    if error.is_connect()
        || error.is_timeout()
        || error.is_body()
        || error.is_decode()
        || error.is_request()
    {
        ErrorClass::Transient
    } else {
        ErrorClass::Permanent
    }
}

/// Whether a rustls certificate error hides somewhere in the error's chain.
///
/// rustls errors reach us wrapped in `io::Error`s, sometimes an `io::Error` inside
/// another, and an `io::Error`'s `source()` skips the error it wraps; so each
/// `io::Error` is also opened with `get_ref()`, recursively.
fn is_tls_certificate_error(error: &reqwest::Error) -> bool {
    error.source().is_some_and(has_certificate_error)
}

fn has_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if is_certificate(err) {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && has_certificate_error(inner)
        {
            return true;
        }
        next = err.source();
    }
    false
}

fn is_certificate(err: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        err.downcast_ref::<rustls::Error>(),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops() {
        let policy = RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        };
        let between = |attempt, low: u64, high: u64| {
            let d = policy.delay_after(attempt, None).unwrap();
            assert!(
                d >= Duration::from_millis(low) && d <= Duration::from_millis(high),
                "attempt {attempt}: {d:?}"
            );
        };
        between(1, 100, 125);
        between(2, 200, 250);
        between(3, 400, 500);
        assert_eq!(policy.delay_after(4, None), None);
        assert_eq!(RetryPolicy::none().delay_after(1, None), None);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy {
            max_delay: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(3600))),
            Some(Duration::from_secs(5))
        );
    }

    /// A quick policy: 4 attempts, 1 ms backoff, waits capped at `max_ms`.
    fn quick(max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(max_ms),
        }
    }

    /// Runs `with_retries` with attempts answered by `outcome(number)`; returns the
    /// result and the (attempt to come, wait) of each retry.
    async fn run(
        policy: &RetryPolicy,
        outcome: impl Fn(u32) -> Result<&'static str, Failure<u32>>,
    ) -> (Retried<&'static str, u32>, Vec<(u32, Duration)>) {
        let mut calls = Vec::new();
        let mut retries = Vec::new();
        let retried = with_retries(
            policy,
            |number| {
                calls.push(number);
                std::future::ready(outcome(number))
            },
            |_, delay, next| retries.push((next, delay)),
        )
        .await;
        let expected: Vec<u32> = (1..=retried.attempts).collect();
        assert_eq!(
            calls, expected,
            "attempts are numbered from 1, one call each"
        );
        (retried, retries)
    }

    #[tokio::test]
    async fn attempts_are_counted_until_one_succeeds() {
        let (retried, retries) = run(&quick(1000), |n| {
            if n < 3 {
                Err(Failure::transient(n))
            } else {
                Ok("done")
            }
        })
        .await;
        assert_eq!(retried.result, Ok("done"));
        assert_eq!(retried.attempts, 3);
        let next: Vec<u32> = retries.iter().map(|(next, _)| *next).collect();
        assert_eq!(next, [2, 3]);
    }

    #[tokio::test]
    async fn the_last_transient_failure_is_returned_when_attempts_run_out() {
        let (retried, retries) = run(&quick(1000), |n| Err(Failure::transient(n))).await;
        assert_eq!(retried.result, Err(4));
        assert_eq!(retried.attempts, 4);
        assert_eq!(retries.len(), 3);

        let (retried, retries) = run(&RetryPolicy::none(), |n| Err(Failure::transient(n))).await;
        assert_eq!((retried.result, retried.attempts), (Err(1), 1));
        assert!(retries.is_empty());
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let (retried, retries) = run(&quick(1000), |n| match n {
            1 => Err(Failure::transient(n)),
            _ => Err(Failure::Permanent(n)),
        })
        .await;
        assert_eq!((retried.result, retried.attempts), (Err(2), 2));
        assert_eq!(retries.len(), 1);
    }

    #[tokio::test]
    async fn retry_after_is_waited_for_up_to_the_cap() {
        let asked = |wait: Duration| {
            move |n| match n {
                1 => Err(Failure::Transient {
                    error: n,
                    retry_after: Some(wait),
                }),
                _ => Ok("done"),
            }
        };
        let started = std::time::Instant::now();
        let (retried, retries) = run(&quick(1000), asked(Duration::from_millis(60))).await;
        assert!(started.elapsed() >= Duration::from_millis(60));
        assert_eq!((retried.result, retried.attempts), (Ok("done"), 2));
        assert_eq!(retries, [(2, Duration::from_millis(60))]);

        // An hour asked, 30 ms allowed.
        let started = std::time::Instant::now();
        let (retried, retries) = run(&quick(30), asked(Duration::from_secs(3600))).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(60));
        assert_eq!(retried.attempts, 2);
        assert_eq!(retries, [(2, Duration::from_millis(30))]);
    }

    #[tokio::test]
    async fn without_retry_after_the_backoff_is_waited() {
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
        };
        let started = std::time::Instant::now();
        let (retried, retries) = run(&policy, |n| Err(Failure::transient(n))).await;
        assert_eq!(retried.attempts, 3);
        // 20 ms, then 40 ms, each with up to 25 % jitter.
        let waits: Vec<Duration> = retries.iter().map(|(_, wait)| *wait).collect();
        assert!(waits[0] >= Duration::from_millis(20) && waits[0] <= Duration::from_millis(25));
        assert!(waits[1] >= Duration::from_millis(40) && waits[1] <= Duration::from_millis(50));
        assert!(started.elapsed() >= Duration::from_millis(60));
    }

    #[test]
    fn retry_after_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn certificate_errors_are_found_inside_nested_io_errors() {
        let rejected = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested = std::io::Error::other(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rejected,
        ));
        assert!(has_certificate_error(&nested));
        assert!(!has_certificate_error(&std::io::Error::other("reset")));
    }

    #[test]
    fn transient_statuses() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(StatusCode::from_u16(code).unwrap()));
        }
        for code in [400, 401, 403, 404, 410] {
            assert!(!is_transient_status(StatusCode::from_u16(code).unwrap()));
        }
    }
}
