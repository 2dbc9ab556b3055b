//! Ordering interceptors: a topological sort over `depends_on` / `runs_before`.

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap};

use super::{InterceptorRef, InterceptorRegistration, display_name};

/// Why the interceptors cannot be ordered. Interceptors are named by the
/// last segment of their type's path, or by as much of the path as tells
/// apart two alike names among those registered or named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// Two registrations of the same type: registered and added by hand,
    /// or added twice.
    #[error("interceptor `{0}` is registered or added twice")]
    Duplicate(&'static str),
    /// A dependency names a type that is not one of the app's interceptors:
    /// not in the registry (or the registry is off), nor added to the
    /// builder.
    #[error(
        "interceptor `{interceptor}` refers to `{missing}`, which is not an interceptor of this app (registered, or added to its builder)"
    )]
    Unknown {
        /// The interceptor declaring the dependency.
        interceptor: &'static str,
        /// The type the app does not have.
        missing: &'static str,
    },
    /// The declarations form a cycle.
    #[error("interceptor dependencies form a cycle: {}", .members.join(" -> "))]
    Cycle {
        /// Every interceptor on the cycle, in cycle order.
        members: Vec<&'static str>,
    },
}

/// Orders registrations outermost first. Ties go to built-ins (app
/// interceptors run inside them unless declared to run outside one), then by
/// name (the full path when two names are alike), so the order never
/// depends on link or registry order.
pub(crate) fn resolve_order<'r>(
    registrations: &[&'r InterceptorRegistration],
) -> Result<Vec<&'r InterceptorRegistration>, OrderError> {
    // Every type named, for names that tell alike ones apart.
    let named: Vec<InterceptorRef> = registrations
        .iter()
        .flat_map(|r| {
            [r.interceptor]
                .into_iter()
                .chain(r.depends_on.iter().copied())
                .chain(r.runs_before.iter().copied())
        })
        .collect();
    let name = |r: &InterceptorRef| display_name(r, &named);
    let mut index: HashMap<TypeId, usize> = HashMap::new();
    for (i, r) in registrations.iter().enumerate() {
        if index.insert(r.interceptor.type_id(), i).is_some() {
            return Err(OrderError::Duplicate(name(&r.interceptor)));
        }
    }
    let n = registrations.len();
    // edges[a] contains b: a runs outside b.
    let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (i, r) in registrations.iter().enumerate() {
        let lookup = |dep: &InterceptorRef| {
            index
                .get(&dep.type_id())
                .copied()
                .ok_or(OrderError::Unknown {
                    interceptor: name(&r.interceptor),
                    missing: name(dep),
                })
        };
        for dep in r.depends_on {
            edges[lookup(dep)?].insert(i);
        }
        for later in r.runs_before {
            edges[i].insert(lookup(later)?);
        }
    }
    let mut incoming = vec![0usize; n];
    for targets in &edges {
        for &t in targets {
            incoming[t] += 1;
        }
    }
    // App interceptors go inside the built-ins unless they must run outside one.
    let outside_builtin = reaches_builtin(registrations, &edges);
    let class = |i: usize| match (registrations[i].builtin, outside_builtin[i]) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 2,
    };
    let key = |i: usize| {
        let interceptor = &registrations[i].interceptor;
        (class(i), interceptor.name(), interceptor.type_name(), i)
    };
    let mut ready: BTreeSet<_> = (0..n).filter(|&i| incoming[i] == 0).map(key).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop_first() {
        let i = next.3;
        order.push(registrations[i]);
        for &t in &edges[i] {
            incoming[t] -= 1;
            if incoming[t] == 0 {
                ready.insert(key(t));
            }
        }
    }
    if order.len() < n {
        let stuck: Vec<usize> = (0..n).filter(|&i| incoming[i] > 0).collect();
        return Err(OrderError::Cycle {
            members: find_cycle(&stuck, &edges)
                .into_iter()
                .map(|i| name(&registrations[i].interceptor))
                .collect(),
        });
    }
    Ok(order)
}

/// For each node, whether a path of edges leads from it to a built-in.
fn reaches_builtin(
    registrations: &[&InterceptorRegistration],
    edges: &[BTreeSet<usize>],
) -> Vec<bool> {
    let n = registrations.len();
    let mut reaches: Vec<bool> = registrations.iter().map(|r| r.builtin).collect();
    // Propagate backwards until stable; n rounds bound any path length.
    for _ in 0..n {
        let mut changed = false;
        for i in 0..n {
            if !reaches[i] && edges[i].iter().any(|&t| reaches[t]) {
                reaches[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    reaches
}

/// A cycle among `stuck` nodes, in edge order, its first node repeated last.
/// Every stuck node has a stuck predecessor (interceptors that only depend
/// on a cycle are stuck too, but lead nowhere), so walking backwards
/// always ends in a cycle.
fn find_cycle(stuck: &[usize], edges: &[BTreeSet<usize>]) -> Vec<usize> {
    let Some(&start) = stuck.first() else {
        return Vec::new();
    };
    let predecessor = |node: usize| stuck.iter().copied().find(|&p| edges[p].contains(&node));
    let mut path = vec![start];
    let mut current = start;
    while let Some(previous) = predecessor(current) {
        if let Some(pos) = path.iter().position(|&p| p == previous) {
            let mut cycle = path.split_off(pos);
            cycle.push(previous);
            cycle.reverse();
            return cycle;
        }
        path.push(previous);
        current = previous;
    }
    path
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::interceptor::InterceptorRef;

    macro_rules! interceptors {
        ($($name:ident),*) => {$(
            pub(crate) struct $name;
            #[async_trait::async_trait]
            impl crate::interceptor::Interceptor for $name {
                async fn intercept(
                    &self,
                    r: axum::extract::Request,
                    n: crate::interceptor::Next,
                ) -> axum::response::Response {
                    n.run(r).await
                }
            }
        )*};
    }
    interceptors!(A, B, C, D);

    fn reg(
        i: InterceptorRef,
        depends_on: &'static [InterceptorRef],
        runs_before: &'static [InterceptorRef],
        builtin: bool,
    ) -> InterceptorRegistration {
        InterceptorRegistration {
            interceptor: i,
            depends_on,
            runs_before,
            builtin,
            build: |_| Ok(Arc::new(A)),
        }
    }

    fn names(order: Vec<&InterceptorRegistration>) -> Vec<&'static str> {
        order.into_iter().map(|r| r.interceptor.name()).collect()
    }

    #[test]
    fn dependencies_run_outside_and_ties_break_by_builtin_then_name() {
        const A_: InterceptorRef = InterceptorRef::of::<A>();
        const B_: InterceptorRef = InterceptorRef::of::<B>();
        let c = reg(InterceptorRef::of::<C>(), &[], &[], false);
        let b = reg(B_, &[A_], &[], true);
        let a = reg(A_, &[], &[], true);
        let d = reg(InterceptorRef::of::<D>(), &[], &[A_], false);
        let order = resolve_order(&[&c, &b, &a, &d]).unwrap();
        assert_eq!(names(order), ["D", "A", "B", "C"]);
        // Same result whatever the registration order.
        let order = resolve_order(&[&d, &a, &c, &b]).unwrap();
        assert_eq!(names(order), ["D", "A", "B", "C"]);
    }

    #[test]
    fn a_cycle_names_every_member() {
        const A_: InterceptorRef = InterceptorRef::of::<A>();
        const B_: InterceptorRef = InterceptorRef::of::<B>();
        const C_: InterceptorRef = InterceptorRef::of::<C>();
        let a = reg(A_, &[C_], &[], false);
        let b = reg(B_, &[A_], &[], false);
        let c = reg(C_, &[B_], &[], false);
        let d = reg(InterceptorRef::of::<D>(), &[], &[], false);
        let err = resolve_order(&[&a, &b, &c, &d]).unwrap_err();
        let OrderError::Cycle { members } = &err else {
            panic!("{err:?}")
        };
        let set: BTreeSet<_> = members.iter().copied().collect();
        assert_eq!(set, BTreeSet::from(["A", "B", "C"]));
        assert_eq!(members.first(), members.last());
        assert!(err.to_string().contains("A") && err.to_string().contains("->"));
    }

    #[test]
    fn a_cycle_is_named_when_an_interceptor_that_only_depends_on_it_comes_first() {
        const A_: InterceptorRef = InterceptorRef::of::<A>();
        const B_: InterceptorRef = InterceptorRef::of::<B>();
        const C_: InterceptorRef = InterceptorRef::of::<C>();
        const D_: InterceptorRef = InterceptorRef::of::<D>();
        // D depends on the cycle A -> B -> C -> A without being part of it.
        let d = reg(D_, &[A_], &[], false);
        let a = reg(A_, &[C_], &[], false);
        let b = reg(B_, &[A_], &[], false);
        let c = reg(C_, &[B_], &[], false);
        for registrations in [[&d, &a, &b, &c], [&a, &d, &b, &c]] {
            let err = resolve_order(&registrations).unwrap_err();
            let OrderError::Cycle { members } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(members.len(), 4, "{members:?}");
            assert_eq!(members.first(), members.last(), "{members:?}");
            let set: BTreeSet<_> = members.iter().copied().collect();
            assert_eq!(set, BTreeSet::from(["A", "B", "C"]));
            // Each step follows a declared order: A runs before B, B before C.
            for pair in members.windows(2) {
                let next = |x: &str| match x {
                    "A" => "B",
                    "B" => "C",
                    _ => "A",
                };
                assert_eq!(next(pair[0]), pair[1], "{members:?}");
            }
        }
    }

    #[test]
    fn unknown_dependencies_and_duplicates_are_errors() {
        const B_: InterceptorRef = InterceptorRef::of::<B>();
        let a = reg(InterceptorRef::of::<A>(), &[B_], &[], false);
        assert_eq!(
            resolve_order(&[&a]).unwrap_err(),
            OrderError::Unknown {
                interceptor: "A",
                missing: "B"
            }
        );
        let a2 = reg(InterceptorRef::of::<A>(), &[], &[], false);
        let a3 = reg(InterceptorRef::of::<A>(), &[], &[], false);
        assert_eq!(
            resolve_order(&[&a2, &a3]).unwrap_err(),
            OrderError::Duplicate("A")
        );
    }

    mod first {
        interceptors!(Tag);
    }
    mod other {
        pub(super) mod first {
            interceptors!(Tag);
        }
    }
    mod second {
        interceptors!(Tag);
    }

    #[test]
    fn alike_names_are_ordered_by_full_path_not_by_registration() {
        let first = reg(InterceptorRef::of::<first::Tag>(), &[], &[], false);
        let second = reg(InterceptorRef::of::<second::Tag>(), &[], &[], false);
        let paths = |order: Vec<&InterceptorRegistration>| -> Vec<&'static str> {
            order
                .into_iter()
                .map(|r| r.interceptor.type_name())
                .collect()
        };
        let one = paths(resolve_order(&[&first, &second]).unwrap());
        let other = paths(resolve_order(&[&second, &first]).unwrap());
        assert_eq!(one, other);
        assert!(one[0].ends_with("first::Tag"), "{one:?}");
    }

    #[test]
    fn alike_names_in_errors_are_told_apart() {
        const FIRST: InterceptorRef = InterceptorRef::of::<first::Tag>();
        const SECOND: InterceptorRef = InterceptorRef::of::<second::Tag>();
        let first = reg(FIRST, &[SECOND], &[], false);
        let second = reg(SECOND, &[FIRST], &[], false);
        let err = resolve_order(&[&first, &second]).unwrap_err();
        let OrderError::Cycle { members } = &err else {
            panic!("{err:?}")
        };
        let set: BTreeSet<_> = members.iter().copied().collect();
        assert_eq!(set, BTreeSet::from(["first::Tag", "second::Tag"]));
        // The shortest end of the path that differs: `first::Tag` is not enough here.
        const NESTED: InterceptorRef = InterceptorRef::of::<other::first::Tag>();
        let a = reg(FIRST, &[NESTED], &[], false);
        assert_eq!(
            resolve_order(&[&a]).unwrap_err(),
            OrderError::Unknown {
                interceptor: "tests::first::Tag",
                missing: "other::first::Tag"
            }
        );
        // Unlike names stay short.
        let c = reg(InterceptorRef::of::<C>(), &[FIRST], &[], false);
        assert_eq!(
            resolve_order(&[&c]).unwrap_err(),
            OrderError::Unknown {
                interceptor: "C",
                missing: "Tag"
            }
        );
    }
}
