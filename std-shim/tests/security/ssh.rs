//! ssh keys: traps laid by a real guest user.

use super::*;

#[test]
fn keys_file_linked_to_a_root_file_is_neither_written_read_nor_chowned() {
    let u = User::create("sec-filelink");
    let victim = u.dir.join("shadow");
    root_file(&victim, b"root:$6$secret-hash:19000:0:99999:7:::\n", 0o640);
    u.sh(&format!(
        "mkdir -m 700 .ssh && ln -s {} .ssh/authorized_keys",
        victim.display()
    ));
    let (before, trap) = (snap(&victim), snap(&u.ssh()));
    let agent = Agent::start("sec-filelink-agent");
    let mut c = agent.connect();
    let want = "authorized_keys': it is a symbolic link";
    assert_refused(&add(&mut c, &u, &[K1]), want);
    let r = get(&mut c, &u);
    assert_refused(&r, want);
    assert!(!r.to_string().contains("secret-hash"), "leaked: {r}");
    assert_refused(&remove(&mut c, &u, &[K1]), want);
    let r = ask(
        &mut c,
        "guest-ssh-add-authorized-keys",
        json!({"username": u.name, "keys": [K1], "reset": true}),
    );
    assert_refused(&r, want);
    assert_eq!(snap(&victim), before);
    assert_eq!(snap(&u.ssh()), trap, "the user's link was changed");
    ping_fast(&mut c);
}

#[test]
fn ssh_dir_linked_to_a_root_dir_is_not_used() {
    let u = User::create("sec-dirlink");
    let victim = u.dir.join("rootssh");
    std::fs::create_dir(&victim).expect("victim dir");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    root_file(
        &victim.join("authorized_keys"),
        b"ssh-rsa ROOTKEY root@host\n",
        0o600,
    );
    u.sh(&format!("ln -s {} .ssh", victim.display()));
    let before = snap(&victim);
    let agent = Agent::start("sec-dirlink-agent");
    let mut c = agent.connect();
    let want = ".ssh': it is a symbolic link";
    assert_refused(&add(&mut c, &u, &[K1]), want);
    let r = get(&mut c, &u);
    assert_refused(&r, want);
    assert!(!r.to_string().contains("ROOTKEY"), "leaked: {r}");
    assert_refused(&remove(&mut c, &u, &[K1]), want);
    assert_eq!(snap(&victim), before);
    ping_fast(&mut c);
}

/// The user swaps `.ssh` (and `authorized_keys`) for links to a root
/// directory in a loop, hitting every window between create, open, chown
/// and rename, while the host adds keys 200 times.
#[test]
fn racing_the_create_and_chown_never_touches_a_root_dir() {
    let u = User::create("sec-race");
    let victim = u.dir.join("rootssh");
    std::fs::create_dir(&victim).expect("victim dir");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    root_file(&victim.join("authorized_keys"), b"ssh-rsa ROOTKEY\n", 0o644);
    let before = snap(&victim);
    let stop = u.dir.join("stop");
    let racer = format!(
        r#"
import os
v, stop = {victim:?}, {stop:?}
def tryit(f, *a):
    try: f(*a)
    except OSError: pass
while not os.path.exists(stop):
    tryit(os.rename, ".ssh", ".ssh.real")
    tryit(os.rmdir, ".ssh")
    tryit(os.symlink, v, ".ssh")
    tryit(os.unlink, ".ssh")
    tryit(os.rename, ".ssh.real", ".ssh")
    tryit(os.symlink, v + "/authorized_keys", ".ssh/l")
    tryit(os.rename, ".ssh/l", ".ssh/authorized_keys")
    tryit(os.unlink, ".ssh/l")
"#,
        victim = victim.display().to_string(),
        stop = stop.display().to_string()
    );
    let mut child = u
        .command("/usr/bin/python3")
        .args(["-c", &racer])
        .spawn()
        .expect("racer");
    let agent = Agent::start("sec-race-agent");
    let mut c = agent.connect();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..200 {
        let r = add(&mut c, &u, &[&format!("ssh-ed25519 AAAA{i} race")]);
        if r.get("return").is_some() {
            ok += 1;
            continue;
        }
        let (class, desc) = err(&r);
        assert_eq!(class, "GenericError", "{r}");
        assert!(desc.contains(".ssh"), "unclear error: {desc}");
        refused += 1;
    }
    root_file(&stop, b"", 0o644);
    let _ = child.wait();
    eprintln!("race: {ok} adds succeeded, {refused} refused");
    assert_eq!(ok + refused, 200);
    assert_eq!(snap(&victim), before, "the root dir changed");
    ping_fast(&mut c);
}

#[test]
fn a_fifo_as_keys_file_neither_hangs_nor_is_replaced() {
    let u = User::create("sec-fifo");
    u.sh("mkdir -m 700 .ssh && mkfifo -m 600 .ssh/authorized_keys");
    let before = snap(&u.ssh());
    let agent = Agent::start("sec-fifo-agent");
    let mut c = agent.connect();
    let want = "authorized_keys': it is not a regular file";
    assert_refused(&get(&mut c, &u), want);
    assert_refused(&add(&mut c, &u, &[K1]), want);
    assert_refused(&remove(&mut c, &u, &[K1]), want);
    assert_eq!(snap(&u.ssh()), before);
    ping_fast(&mut c);
}

#[test]
fn a_link_to_dev_zero_is_not_read() {
    let u = User::create("sec-zero");
    u.sh("mkdir -m 700 .ssh && ln -s /dev/zero .ssh/authorized_keys");
    let (before, zero) = (snap(&u.ssh()), snap(Path::new("/dev/zero")));
    let agent = Agent::start("sec-zero-agent");
    let mut c = agent.connect();
    let want = "authorized_keys': it is a symbolic link";
    assert_refused(&get(&mut c, &u), want);
    assert_refused(&add(&mut c, &u, &[K1]), want);
    assert_eq!(
        (snap(&u.ssh()), snap(Path::new("/dev/zero"))),
        (before, zero)
    );
    ping_fast(&mut c);
}

#[test]
fn non_utf8_and_non_key_lines_survive_add_and_remove() {
    let u = User::create("sec-bytes");
    u.sh(r"mkdir -m 700 .ssh && printf 'ssh-rsa OLD a\r\n\377\376 junk\n# note \351\n' > .ssh/authorized_keys && chmod 600 .ssh/authorized_keys");
    let file = u.ssh().join("authorized_keys");
    let agent = Agent::start("sec-bytes-agent");
    let mut c = agent.connect();
    assert_eq!(ret(&add(&mut c, &u, &[K1])), &json!({}));
    let old: &[u8] = b"ssh-rsa OLD a\r\n\xff\xfe junk\n# note \xe9";
    assert_eq!(
        std::fs::read(&file).expect("read"),
        [old, b"\n", K1.as_bytes()].concat()
    );
    let r = get(&mut c, &u);
    assert_eq!(
        ret(&r)["keys"],
        json!([K1, "\u{fffd}\u{fffd} junk", "ssh-rsa OLD a"])
    );
    assert_eq!(ret(&remove(&mut c, &u, &[K1])), &json!({}));
    assert_eq!(std::fs::read(&file).expect("read"), old);
    let m = std::fs::metadata(&file).expect("stat");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (u.uid, u.gid, 0o600));
    ping_fast(&mut c);
}

#[test]
fn legitimate_add_get_remove_make_0700_and_0600_owned_by_the_user() {
    let u = User::create("sec-legit");
    let agent = Agent::start("sec-legit-agent");
    let mut c = agent.connect();
    assert_eq!(ret(&add(&mut c, &u, &[K1, K2, K1])), &json!({}));
    let (d, f) = (snap(&u.ssh()), snap(&u.ssh().join("authorized_keys")));
    assert_eq!((d.kind, d.uid, d.gid, d.mode), ("dir", u.uid, u.gid, 0o700));
    assert_eq!(
        (f.kind, f.uid, f.gid, f.mode),
        ("file", u.uid, u.gid, 0o600)
    );
    assert_eq!(f.content, format!("{K1}\n{K2}").into_bytes());
    assert_eq!(d.entries.len(), 1, "a temp file was left: {:?}", d.entries);
    assert_eq!(ret(&get(&mut c, &u))["keys"], json!([K2, K1]));
    assert_eq!(ret(&remove(&mut c, &u, &[K1])), &json!({}));
    assert_eq!(ret(&get(&mut c, &u))["keys"], json!([K2]));
    let f = snap(&u.ssh().join("authorized_keys"));
    assert_eq!(
        (f.uid, f.gid, f.mode, &f.content[..]),
        (u.uid, u.gid, 0o600, K2.as_bytes())
    );
    ping_fast(&mut c);
}
