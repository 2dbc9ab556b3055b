//! Durable embedded session store (in progress).
