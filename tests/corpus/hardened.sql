-- A tenant schema rlsguard must find nothing wrong with. {app}, {admin} are role names
-- (replaced before running; roles already exist), the tables belong to the migration role.
-- PostgreSQL 15 made the public schema no longer writable by everyone; on 14 a hardened
-- database does it itself (test_static_checks.py shows what happens when it does not).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE TABLE tenants (
    tenant_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    domain text NOT NULL UNIQUE
);
CREATE TABLE users (
    user_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    email text NOT NULL,
    UNIQUE (tenant_id, user_id),
    UNIQUE (tenant_id, email)
);
CREATE TABLE documents (
    document_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id uuid NOT NULL,
    title text NOT NULL,
    content_hash text NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id),
    UNIQUE (tenant_id, content_hash)
);
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;

CREATE POLICY tenants_app ON tenants FOR SELECT TO {app}
    USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
CREATE POLICY users_app ON users TO {app}
    USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
CREATE POLICY documents_app ON documents TO {app}
    USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
CREATE POLICY tenants_admin ON tenants TO {admin} USING (true) WITH CHECK (true);
CREATE POLICY users_admin ON users TO {admin} USING (true) WITH CHECK (true);
CREATE POLICY documents_admin ON documents TO {admin} USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA public TO {app}, {admin};
GRANT SELECT ON tenants, countries TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON users, documents TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, documents TO {admin};
GRANT SELECT ON countries TO {admin};
