//! Which devices have a stream open, and handing them events.
//!
//! The hub is a sharded map from device id to the mailboxes of that device's
//! open streams. A mailbox is a small bounded queue plus one waker: the
//! stream's task sleeps on it and writes whatever is queued straight to its
//! socket. It is deliberately smaller than a channel (no preallocated block
//! of slots): an idle stream costs one mailbox, and with tens of thousands
//! of idle devices that is what the server's memory is made of.
//!
//! Events never wait in the hub for a device that is not connected: the
//! database keeps every pending prompt, and a device that reconnects gets
//! them again from `device::open_stream` (after `Last-Event-ID`). That is
//! also why a full mailbox may simply end its stream: nothing is lost, the
//! device resumes.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// One event on a device's stream (`docs/push-protocol.md` §10.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A signed prompt; `seq` is its SSE `id`.
    Prompt {
        /// The delivery's sequence number (`Last-Event-ID` on resume).
        seq: i64,
        /// The compact JWS.
        jws: Arc<str>,
    },
    /// The device was revoked; the stream ends after this event.
    Revoked {
        /// `revoked`, `replaced` or `handoff`.
        reason: &'static str,
    },
}

/// How many events may wait for one stream before the stream is ended.
///
/// A device has at most a few pending prompts (3 per user by default), so a
/// queue this long means the device stopped reading: ending its stream
/// bounds the memory a stalled reader can hold, and the device gets every
/// still-pending prompt again when it reconnects.
pub const MAILBOX_CAPACITY: usize = 32;

/// How many heartbeats in a row may find the previous one still unwritten
/// before the stream is ended as stalled. A stream whose socket stays full
/// for this many heartbeat periods belongs to a peer that stopped reading
/// (or vanished without a reset); TCP alone could keep it for a long time.
pub const MAX_MISSED_HEARTBEATS: u8 = 4;

/// The number of shards: enough that publishers on a few cores rarely meet
/// on one lock, few enough that a heartbeat sweep is cheap.
const SHARDS: usize = 64;

/// Why a stream was ended by the hub rather than by its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// More than [`MAILBOX_CAPACITY`] events were waiting.
    Overflow,
    /// A newer authenticated stream of the same device took over.
    Replaced,
    /// Heartbeats could not be written for [`MAX_MISSED_HEARTBEATS`] periods.
    Stalled,
    /// The device was revoked ([`Hub::close`]); the `revoked` event is
    /// queued ahead of the end.
    Revoked,
}

/// What a stream should do next, from [`Mailbox::poll_next`].
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Write this event.
    Event(StreamEvent),
    /// Write a heartbeat comment.
    Heartbeat,
    /// End the stream.
    End(Ended),
}

/// The receiving side of one stream: a bounded queue and the stream task's
/// waker.
#[derive(Debug)]
pub struct Mailbox {
    id: u64,
    inner: Mutex<Inbox>,
}

#[derive(Debug, Default)]
struct Inbox {
    // Empty `VecDeque`s do not allocate: an idle stream holds no queue.
    queue: VecDeque<StreamEvent>,
    waker: Option<Waker>,
    heartbeat: bool,
    missed_heartbeats: u8,
    ended: Option<Ended>,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        // Every update leaves the inbox consistent, so a panic elsewhere
        // while the lock was held does not make it unusable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next thing to do, or `Pending` (the caller's task is woken when
    /// there is one). Queued events come first, so a `revoked` that was
    /// queued before the end is still written.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut inbox = self.lock();
        if let Some(event) = inbox.queue.pop_front() {
            if inbox.queue.is_empty() {
                // Give the memory of a burst back instead of keeping it for
                // the life of an idle stream.
                inbox.queue = VecDeque::new();
            }
            return Poll::Ready(Next::Event(event));
        }
        if let Some(ended) = inbox.ended {
            return Poll::Ready(Next::End(ended));
        }
        if inbox.heartbeat {
            inbox.heartbeat = false;
            inbox.missed_heartbeats = 0;
            return Poll::Ready(Next::Heartbeat);
        }
        store_waker(&mut inbox.waker, cx);
        Poll::Pending
    }

    /// `Ready` once the hub has ended this stream (overflow, replaced,
    /// stalled); otherwise registers the waker. Used while a write waits for
    /// a full socket, so a stalled peer does not pin the task forever.
    pub fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Ended> {
        let mut inbox = self.lock();
        match inbox.ended {
            Some(ended) => Poll::Ready(ended),
            None => {
                store_waker(&mut inbox.waker, cx);
                Poll::Pending
            }
        }
    }

    /// Queues `event`; false when the stream has ended (now or before).
    fn push(&self, event: StreamEvent, bounded: bool) -> bool {
        let waker = {
            let mut inbox = self.lock();
            if inbox.ended.is_some() {
                return false;
            }
            if bounded && inbox.queue.len() >= MAILBOX_CAPACITY {
                inbox.queue = VecDeque::new();
                inbox.ended = Some(Ended::Overflow);
                let waker = inbox.waker.take();
                drop(inbox);
                wake(waker);
                return false;
            }
            inbox.queue.push_back(event);
            inbox.waker.take()
        };
        wake(waker);
        true
    }

    fn end(&self, why: Ended) {
        let waker = {
            let mut inbox = self.lock();
            if inbox.ended.is_none() {
                inbox.ended = Some(why);
            }
            inbox.waker.take()
        };
        wake(waker);
    }

    fn heartbeat(&self) {
        let waker = {
            let mut inbox = self.lock();
            if inbox.ended.is_some() {
                return;
            }
            if inbox.heartbeat {
                // The last one is still unwritten: the task is stuck on a
                // full socket.
                inbox.missed_heartbeats = inbox.missed_heartbeats.saturating_add(1);
                if inbox.missed_heartbeats >= MAX_MISSED_HEARTBEATS {
                    inbox.ended = Some(Ended::Stalled);
                }
            }
            inbox.heartbeat = true;
            inbox.waker.take()
        };
        wake(waker);
    }
}

fn store_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

// Wakes outside the lock: the woken task may run on another worker at once
// and take the same lock.
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Most devices have one stream; during a reconnect briefly two.
type Streams = HashMap<Arc<str>, Vec<Arc<Mailbox>>>;

/// The connected streams.
#[derive(Debug)]
pub struct Hub {
    shards: Box<[Mutex<Streams>]>,
    hasher: RandomState,
    next_id: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered stream. Dropping it unregisters the stream (and only that
/// stream: a newer one of the same device stays).
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    device_id: Arc<str>,
    mailbox: Arc<Mailbox>,
}

impl Subscription {
    /// The mailbox to wait on.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// The device this stream belongs to.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Ends every other stream of this device ([`Ended::Replaced`]). Called
    /// once this stream is authenticated, so an unauthenticated request
    /// naming a device can never end that device's real stream.
    pub fn take_over(&self) {
        let mut shard = self.hub.shard(&self.device_id);
        if let Some(list) = shard.get_mut(&self.device_id) {
            list.retain(|other| {
                if other.id == self.mailbox.id {
                    true
                } else {
                    other.end(Ended::Replaced);
                    false
                }
            });
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut shard = self.hub.shard(&self.device_id);
        if let Some(list) = shard.get_mut(&self.device_id) {
            list.retain(|other| other.id != self.mailbox.id);
            if list.is_empty() {
                shard.remove(&self.device_id);
            }
        }
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(0),
        }
    }

    fn shard_index(&self, device_id: &str) -> usize {
        // The modulo keeps the index in range; the truncation is harmless.
        (self.hasher.hash_one(device_id) as usize) % self.shards.len()
    }

    fn shard(&self, device_id: &str) -> MutexGuard<'_, Streams> {
        self.lock_shard(self.shard_index(device_id))
    }

    fn lock_shard(&self, index: usize) -> MutexGuard<'_, Streams> {
        // The map is consistent between statements; survive a poisoned lock.
        self.shards[index % self.shards.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream of `device_id` and returns it. Older streams of
    /// the device keep running until [`Subscription::take_over`]; events
    /// published from now on reach this one.
    pub fn subscribe(self: &Arc<Self>, device_id: &str) -> Subscription {
        let mailbox = Arc::new(Mailbox {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            inner: Mutex::new(Inbox::default()),
        });
        let mut shard = self.shard(device_id);
        let device_id = match shard.get_key_value(device_id) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(device_id),
        };
        shard
            .entry(Arc::clone(&device_id))
            .or_default()
            .push(Arc::clone(&mailbox));
        drop(shard);
        Subscription {
            hub: Arc::clone(self),
            device_id,
            mailbox,
        }
    }

    /// Sends `event` to the device's streams; false when none took it (no
    /// stream open, or its queue was full and the stream is ending).
    pub fn publish(&self, device_id: &str, event: StreamEvent) -> bool {
        let shard = self.shard(device_id);
        let Some(list) = shard.get(device_id) else {
            return false;
        };
        let mut delivered = false;
        for mailbox in list {
            delivered |= mailbox.push(event.clone(), true);
        }
        delivered
    }

    /// Tells the device's streams it was revoked (`reason`) and forgets
    /// them; each stream writes the `revoked` event and ends.
    pub fn close(&self, device_id: &str, reason: &'static str) {
        let removed = self.shard(device_id).remove(device_id);
        for mailbox in removed.into_iter().flatten() {
            // Unbounded: the revocation must get through even behind a
            // full queue. A stream stuck writing to a full socket gives up
            // instead (its peer is not reading); the device then learns of
            // the revocation when it reconnects (`device_revoked`).
            mailbox.push(StreamEvent::Revoked { reason }, false);
            mailbox.end(Ended::Revoked);
        }
    }

    /// How many streams are registered.
    pub fn connected(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).values().map(Vec::len).sum::<usize>())
            .sum()
    }

    /// The number of shards, for [`Hub::heartbeat_shard`].
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Asks every stream in shard `index` to write a heartbeat. One shared
    /// ticker walks the shards in turn, which spreads the heartbeats of all
    /// streams evenly over the period instead of one timer per stream.
    pub fn heartbeat_shard(&self, index: usize) {
        let shard = self.lock_shard(index);
        for mailbox in shard.values().flatten() {
            mailbox.heartbeat();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn prompt(seq: i64) -> StreamEvent {
        StreamEvent::Prompt {
            seq,
            jws: Arc::from("a.b.c"),
        }
    }

    async fn next(sub: &Subscription) -> Next {
        poll_fn(|cx| sub.mailbox().poll_next(cx)).await
    }

    #[tokio::test]
    async fn publish_reaches_the_stream_and_drop_unregisters() {
        let hub = Arc::new(Hub::new());
        assert!(!hub.publish("d1", prompt(1)));
        let sub = hub.subscribe("d1");
        assert_eq!(hub.connected(), 1);
        assert!(hub.publish("d1", prompt(1)));
        assert!(hub.publish("d1", prompt(2)));
        assert_eq!(next(&sub).await, Next::Event(prompt(1)));
        assert_eq!(next(&sub).await, Next::Event(prompt(2)));
        drop(sub);
        assert_eq!(hub.connected(), 0);
        assert!(!hub.publish("d1", prompt(3)));
    }

    #[tokio::test]
    async fn a_full_queue_ends_the_stream() {
        let hub = Arc::new(Hub::new());
        let sub = hub.subscribe("d1");
        for seq in 0..MAILBOX_CAPACITY {
            assert!(hub.publish("d1", prompt(seq as i64)));
        }
        assert!(!hub.publish("d1", prompt(99)));
        // The queue was dropped with the stream: no memory kept.
        assert_eq!(next(&sub).await, Next::End(Ended::Overflow));
    }

    #[tokio::test]
    async fn close_sends_revoked_then_ends() {
        let hub = Arc::new(Hub::new());
        let sub = hub.subscribe("d1");
        for seq in 0..MAILBOX_CAPACITY {
            hub.publish("d1", prompt(seq as i64));
        }
        hub.close("d1", "revoked");
        assert_eq!(hub.connected(), 0);
        for seq in 0..MAILBOX_CAPACITY {
            assert_eq!(next(&sub).await, Next::Event(prompt(seq as i64)));
        }
        assert_eq!(
            next(&sub).await,
            Next::Event(StreamEvent::Revoked { reason: "revoked" })
        );
        assert_eq!(next(&sub).await, Next::End(Ended::Revoked));
        drop(sub);
        assert_eq!(hub.connected(), 0);
    }

    #[tokio::test]
    async fn take_over_ends_older_streams_only() {
        let hub = Arc::new(Hub::new());
        let old = hub.subscribe("d1");
        let new = hub.subscribe("d1");
        assert_eq!(hub.connected(), 2);
        assert!(hub.publish("d1", prompt(1)));
        new.take_over();
        assert_eq!(hub.connected(), 1);
        assert_eq!(next(&old).await, Next::Event(prompt(1)));
        assert_eq!(next(&old).await, Next::End(Ended::Replaced));
        drop(old);
        // The old stream's drop must not unregister the new one.
        assert_eq!(hub.connected(), 1);
        assert_eq!(next(&new).await, Next::Event(prompt(1)));
    }

    #[tokio::test]
    async fn heartbeats_and_stalls() {
        let hub = Arc::new(Hub::new());
        let sub = hub.subscribe("d1");
        for i in 0..hub.shard_count() {
            hub.heartbeat_shard(i);
        }
        assert_eq!(next(&sub).await, Next::Heartbeat);
        // Never written: after enough periods the stream is ended.
        for _ in 0..=MAX_MISSED_HEARTBEATS {
            for i in 0..hub.shard_count() {
                hub.heartbeat_shard(i);
            }
        }
        assert_eq!(next(&sub).await, Next::End(Ended::Stalled));
    }

    #[test]
    fn an_idle_mailbox_is_small() {
        // What an idle stream keeps in the hub besides its task.
        assert!(std::mem::size_of::<Mailbox>() <= 96);
    }
}
